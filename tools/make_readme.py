"""Write README.md from nbs/index.ipynb, offline (no quarto); `--check` only compares.

nbdev's own `nbdev_readme` renders through quarto, which cannot be installed everywhere
(it downloads a binary at install time). This does the part we need with the standard
library: markdown cells verbatim, code cells as fenced Python, text outputs as fenced
blocks; cells marked `#| hide` are left out and nbdev directive lines are dropped.

    python tools/make_readme.py           # rewrite README.md
    python tools/make_readme.py --check   # exit 1 if README.md differs from the notebook
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook, not this file. -->\n\n'
_directive = re.compile(r'^\s*#\s*\|')

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _text_output(out):
    "The plain-text form of one output, or None for outputs a README cannot show."
    if out.get('output_type') == 'stream': return ''.join(out['text'])
    data = out.get('data', {})
    if 'text/markdown' in data: return None
    if 'text/plain' in data and not any(k.startswith('image/') for k in data): return ''.join(data['text/plain'])
    return None

def render(nb):
    "The README text for notebook `nb` (a parsed .ipynb dict)."
    parts = []
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown': parts.append(src.strip('\n'))
        elif cell['cell_type'] == 'code':
            lines = src.splitlines()
            if any(re.match(r'^\s*#\s*\|\s*hide\b', l) for l in lines): continue
            code = '\n'.join(l for l in lines if not _directive.match(l)).strip('\n')
            if code: parts.append(f'```python\n{code}\n```')
            for out in cell.get('outputs', []):
                text = _text_output(out)
                if text and text.strip(): parts.append(f'```\n{text.rstrip()}\n```')
    return HEADER + '\n\n'.join(p for p in parts if p) + '\n'

def main(argv):
    try: nb = json.loads(NB.read_text(encoding='utf-8'))
    except (OSError, ValueError) as e: sys.exit(f'cannot read {NB}: {e}')
    text = render(nb)
    if '--check' in argv:
        if not README.exists() or README.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of sync with nbs/index.ipynb: run `python tools/make_readme.py` and commit it.')
        print('README.md is in sync with nbs/index.ipynb')
    else:
        README.write_text(text, encoding='utf-8')
        print(f'wrote {README.relative_to(ROOT)}')

if __name__ == '__main__': main(sys.argv[1:])
