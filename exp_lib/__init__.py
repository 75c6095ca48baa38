__version__ = "0.1.0"
# Importing any part of exp_lib imports the library layer (the modules of nbs/20_* to nbs/89_*, in this order), so that
# every Learner has the keywords and methods they add, whichever module was imported first. This list is the one part
# of exp_lib/ written by hand (nbdev_export only updates the version line above): add a library module to it when you
# add its notebook. Library modules may import names from the lessons and from modules before them in this list.
_LIBRARY = ['extend', 'data', 'optimizer', 'guards', 'inference', 'schedule', 'device', 'callback.fp16', 'callback.training',
            'callback.tracker', 'callback.logger', 'param_groups', 'checkpoint']

def _load_library():
    import importlib
    for m in _LIBRARY: importlib.import_module(f'{__name__}.{m}')

_load_library()
