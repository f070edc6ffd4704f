"""Where a cleanup may delete: each root is expanded, resolved and checked before any scan.

A root is refused when it is not absolute, has a `..` part, uses an unknown placeholder,
or - spelled any way (`//`, `/./`, trailing slashes, a symbolic link) - resolves to a
denied place: the file system root, a system folder (/etc, /usr, /bin, /sbin, /lib*,
/boot, /proc, /sys, /dev, /var/lib outside CLEANOPS_HOME), the user's home or the project
folder as a whole, CLEANOPS_HOME as a whole, the database or Dagster storage, or any
folder that contains one of those. A root that passes must also lie inside the
allow-list: CleanOps' own folders plus CLEANOPS_CLEANUP_ROOTS.

Both the spelling and the resolved path are checked, because `/tmp/x/link` may name
/etc. The path returned for scanning has its parent folders resolved but keeps its last
part, so a root that is itself a link is still not entered by the scanner.
"""

from __future__ import annotations

import os
import string

from cleanops import settings
from cleanops.cleanup.models import PolicyError

PLACEHOLDERS = ("home", "logs", "temp", "landing", "archives", "compute_logs", "dbt")
SYSTEM_FOLDERS = ("/etc", "/usr", "/bin", "/sbin", "/boot", "/proc", "/sys", "/dev", "/var/lib")
ALLOW_LIST_SETTING = "CLEANOPS_CLEANUP_ROOTS"


def placeholders() -> dict[str, str]:
    p = settings.paths()
    return {"home": str(p.home), "logs": str(p.logs), "temp": str(p.temp), "landing": str(p.landing),
            "archives": str(p.archives), "compute_logs": str(p.compute_logs),
            "dbt": str(settings.dbt_project_dir())}


def own_folders() -> list[str]:
    """CleanOps' own folders that the default policies clean: always allowed."""
    p = settings.paths()
    dbt = settings.dbt_project_dir()
    return [str(path) for path in (p.temp, p.landing, p.logs, p.archives, p.compute_logs, dbt / "logs",
                                   dbt / "target")]


def allowed_folders() -> list[str]:
    """The allow-list, resolved: CleanOps' own folders and the administrator's CLEANOPS_CLEANUP_ROOTS."""
    folders = [_resolve(path) for path in own_folders()]
    for entry in settings.cleanup_roots():
        if not os.path.isabs(entry) or "\x00" in entry:
            raise PolicyError(f"{ALLOW_LIST_SETTING} entry {entry!r} is not an absolute path", "roots")
        folders.append(_resolve(entry))
    return folders


def check_root(root: object, data_type: str = "") -> str:
    """The root as the scanner must use it, or PolicyError (field `roots`) saying why it is refused."""
    label = f"{data_type}: root {root!r}" if data_type else f"root {root!r}"
    spelled = _expand(root, label)
    scanned = os.path.join(_resolve(os.path.dirname(spelled)), os.path.basename(spelled))
    target = _resolve(spelled)
    for path in dict.fromkeys((spelled, scanned, target)):
        why = denied_because(path)
        if why:
            shown = "" if path == spelled else f" (it resolves to {path})"
            raise PolicyError(f"{label} is refused{shown}: {why}", "roots")
    allowed = allowed_folders()
    for path in dict.fromkeys((scanned, target)):
        if not any(_inside(path, folder) for folder in allowed):
            raise PolicyError(
                f"{label} is refused: {path} is outside the allowed cleanup folders (CleanOps' own folders "
                f"under CLEANOPS_HOME and {ALLOW_LIST_SETTING}); an administrator adds folders there", "roots")
    return scanned


def denied_because(path: str) -> str | None:
    """Why a normal absolute path may not be a cleanup root, or None."""
    if path == "/":
        return "it is the file system root"
    protected = protected_places()
    for place, reason, whole_tree in protected:
        if path == place or (whole_tree and _inside(path, place) and not _own_var_lib(path, place)):
            return reason
    for place, reason, _ in protected:
        if _inside(place, path):
            return f"it contains {place} ({reason})"
    return None


def protected_places() -> list[tuple[str, str, bool]]:
    """(path, reason, whether everything inside is protected too) for every denied place."""
    p = settings.paths()
    places = [(folder, f"{folder} is a system folder", True) for folder in SYSTEM_FOLDERS]
    places += [(f"/{name}", f"/{name} is a system folder", True) for name in _top_level_lib_folders()]
    places += [(str(p.pgdata), "it holds CleanOps' PostgreSQL data", True),
               (str(p.dagster_storage), "it holds Dagster's storage", True),
               (str(p.home), "it is CLEANOPS_HOME as a whole (it holds the database and archives)", False),
               (str(settings.PROJECT_ROOT), "it is the CleanOps project folder as a whole", False)]
    user_home = os.path.expanduser("~")
    if os.path.isabs(user_home):
        places.append((user_home, "it is the user's home folder as a whole", False))
    resolved = []
    for place, reason, tree in places:
        for spelling in dict.fromkeys((os.path.normpath(place), _resolve(place))):
            resolved.append((spelling, reason, tree))
    return resolved


def _top_level_lib_folders() -> list[str]:
    names = {"lib", "lib32", "lib64", "libx32"}
    try:
        names.update(name for name in os.listdir("/") if name.startswith("lib"))
    except OSError:
        pass
    return sorted(names)


def _own_var_lib(path: str, place: str) -> bool:
    """/var/lib is denied except inside CleanOps' own home (a package install may live there)."""
    return place == "/var/lib" and _inside(path, _resolve(str(settings.paths().home)))


def _expand(root: object, label: str) -> str:
    """Fill the placeholders; refuse what is not an absolute, `..`-free, NUL-free text path."""
    if not isinstance(root, str) or not root:
        raise PolicyError(f"{label} is refused: a root must be a non-empty folder path", "roots")
    if "\x00" in root:
        raise PolicyError(f"{label} is refused: it contains a NUL character", "roots")
    try:
        root.encode("utf-8")
    except UnicodeError:
        raise PolicyError(f"{label} is refused: it is not valid UTF-8 text", "roots") from None
    try:
        fields = [name for _, name, spec, conversion in string.Formatter().parse(root)
                  if name is not None and (name not in PLACEHOLDERS or spec or conversion)]
    except ValueError as error:
        raise PolicyError(f"{label} is refused: {error} (placeholders look like {{temp}})", "roots") from None
    if fields:
        raise PolicyError(f"{label} is refused: unknown placeholder {{{fields[0]}}}; known are "
                          + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS), "roots")
    expanded = root.format(**placeholders())
    if not os.path.isabs(expanded):
        raise PolicyError(f"{label} is refused: it is not an absolute path", "roots")
    if ".." in expanded.split("/"):
        raise PolicyError(f"{label} is refused: it contains '..'", "roots")
    return "/" + os.path.normpath(expanded).lstrip("/")


def _resolve(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError) as error:
        raise PolicyError(f"root {path!r} cannot be resolved: {error}", "roots") from None


def _inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (both normal absolute paths)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")

