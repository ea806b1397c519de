"""Runs ocfl-py's own ocfl-validate.py on a storage root, with two patches that the
benchmark needs and that do not change what ocfl-py checks:

1. ocfl-py 2.1.0 has no handler for layout 0004-hashed-n-tuple-storage-layout, so it rejects
   any storage root declaring it with E071 before looking at a single object. Storage-root
   validation walks the directory tree and never maps identifiers to paths, so registering
   the name is enough to let validation proceed.
2. In storage-root mode ocfl-validate.py exits 0 and prints nothing even when objects are
   invalid (StorageRoot.validate only fails on traversal errors; object results are kept in
   store.errors and good_objects). The patch prints those results and fails when any object
   is invalid, so that the benchmark can tell whether ocfl-py accepted the root.

usage: python ocfl_py_driver.py PATH/TO/ocfl-validate.py [ocfl-validate.py arguments]
"""
import runpy
import sys

import ocfl
from ocfl.layout import Layout
from ocfl.layout_registry import add_layout

LAYOUT_0004 = "0004-hashed-n-tuple-storage-layout"


class Layout0004(Layout):
    """Only the name: validation of a storage root does not use the mapping."""

    def __init__(self):
        super().__init__()
        self.NAME = LAYOUT_0004
        self.DESCRIPTION = "Extension 0004 (name registered by the benchmark driver)"
        self.PARAMS = {}


add_layout(LAYOUT_0004, Layout0004)

_validate = ocfl.StorageRoot.validate


def validate_counting_objects(self, **kwargs):
    ok = _validate(self, **kwargs)
    for _dirpath, messages in self.errors or []:
        print(messages)
    num, good = self.num_objects, self.good_objects
    print("ocfl-py: %s objects, %s valid, storage root %s"
          % (num, good, "VALID" if ok and good == num else "INVALID"))
    return ok and good == num


ocfl.StorageRoot.validate = validate_counting_objects

script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
