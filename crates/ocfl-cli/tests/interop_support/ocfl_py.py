"""ocfl-py's side of the interop tests (crates/ocfl-cli/tests/interop.rs), through its Python
API so that one interpreter start serves a whole matrix. Prints one JSON document on stdout.

    python3 ocfl_py.py check OUT ROOT...
        For each storage root: ocfl-py's verdict on the root as it stands; its verdict with
        every layout name our roots use registered (see LAYOUTS_BY_NAME_ONLY); each object's
        own validation (digests checked); and every version of every object extracted into
        OUT/<root index>/<object index>/<version>.

    python3 ocfl_py.py build JSON
        Storage roots made by ocfl-py (see build()); prints each root's id -> object path.
"""
import json
import os
import sys
import tempfile

import ocfl
from ocfl.layout import Layout
from ocfl.layout_registry import add_layout, layout_is_supported

# ocfl-py 2.1 has handlers for 0002 and 0003 only, and fails any storage root declaring
# another registered layout with E071, which the specification reserves for an `extension`
# value that is not a registered name: ocfl-py's defect, not the root's. Validating a root
# walks its directories and never maps an id, so registering the name alone lets ocfl-py
# check everything else about the root.
LAYOUTS_BY_NAME_ONLY = [
    "0004-hashed-n-tuple-storage-layout",
    "0006-flat-omit-prefix-storage-layout",
    "0007-n-tuple-omit-prefix-storage-layout",
    "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
]


def name_only_layout(name):
    class NameOnly(Layout):
        def __init__(self):
            super().__init__()
            self.NAME = name
            self.DESCRIPTION = name
            self.PARAMS = {}

    return NameOnly


def codes(logger):
    """The (errors, warnings) codes a ValidationLogger recorded, sorted."""
    errors = sorted(c for c in logger.codes if c.startswith("E"))
    warnings = sorted(c for c in logger.codes if c.startswith("W"))
    return errors, warnings


def root_verdict(root):
    store = ocfl.StorageRoot(root=root)
    valid = store.validate(log_warnings=True, log_errors=True)
    errors, _ = codes(store.log)
    object_messages = [message for _, message in (getattr(store, "errors", None) or [])]
    return {
        "valid": bool(valid),
        "errors": errors,
        "messages": str(store.log),
        "objects": getattr(store, "num_objects", 0),
        "good_objects": getattr(store, "good_objects", 0),
        "object_messages": object_messages,
    }


def object_dirs(root):
    found = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        if any(name.startswith("0=ocfl_object_") for name in files):
            found.append(dirpath)
            dirs.clear()
    return sorted(found)


def check(out, roots):
    report = {}
    for root in roots:
        report[root] = {"root": root_verdict(root)}
    for name in LAYOUTS_BY_NAME_ONLY:
        if not layout_is_supported(name):
            add_layout(name, name_only_layout(name))
    for r, root in enumerate(roots):
        report[root]["root_with_names_registered"] = root_verdict(root)
        objects = {}
        for o, objdir in enumerate(object_dirs(root)):
            obj = ocfl.Object()
            passed, validator = obj.validate(objdir=objdir, log_warnings=True, check_digests=True)
            errors, warnings = codes(validator.log)
            inventory = ocfl.Object(path=objdir).parse_inventory()
            versions = {}
            for version in inventory.version_directories:
                dest = os.path.join(out, str(r), str(o), version)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                ocfl.Object().extract(objdir, version, dest)
                versions[version] = dest
            objects[os.path.relpath(objdir, root)] = {
                "id": inventory.id,
                "valid": bool(passed),
                "errors": errors,
                "warnings": warnings,
                "messages": str(validator),
                "versions": versions,
            }
        report[root]["objects"] = objects
    return report


def build(roots):
    """Writes each root of `roots` ([{spec, layout, root, objects: [{id, sources}]}]), each
    object with one version per source directory. Adding a version goes through
    add_version_with_content, as `ocfl-object.py update` does, which always writes a 1.1
    inventory: a 1.0 object of more than one version keeps its 1.0 declaration under a 1.1
    root inventory (E038), a defect of ocfl-py 2.1 that interop.rs records."""
    built = []
    for spec in roots:
        store = ocfl.StorageRoot(root=spec["root"], layout_name=spec["layout"])
        store.initialize(spec_version=spec["spec"])
        paths = {}
        for obj in spec["objects"]:
            with tempfile.TemporaryDirectory() as work:
                objdir = os.path.join(work, "object")
                for n, source in enumerate(obj["sources"], start=1):
                    metadata = ocfl.VersionMetadata(
                        created="2024-01-%02dT00:00:00Z" % n, message="v%d by ocfl-py" % n,
                        name="ocfl-py", address="mailto:ocfl-py@example.org")
                    if n == 1:
                        ocfl.Object(identifier=obj["id"], spec_version=spec["spec"]).create(
                            srcdir=source, metadata=metadata, objdir=objdir)
                    else:
                        ocfl.Object(spec_version=spec["spec"]).add_version_with_content(
                            objdir=objdir, srcdir=source, metadata=metadata)
                _, path = store.add(objdir)
                paths[obj["id"]] = path
        built.append(paths)
    return built


def main(args):
    if len(args) >= 2 and args[0] == "check":
        result = check(args[1], args[2:])
    elif len(args) == 2 and args[0] == "build":
        result = build(json.loads(args[1]))
    else:
        sys.exit(__doc__)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
