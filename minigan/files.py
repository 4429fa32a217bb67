"""Reading the files a user names, writing the files minigan makes: a regular file or a clear error, a whole
file or none.

- ``regular_file(path, what)``: refuse, without opening it, a path that is a directory, a named pipe, a
  device or a socket. Opening a named pipe for reading waits until some other process opens it for writing,
  which may be never; ``os.stat`` only looks, so the refusal cannot hang.
- ``write_atomic(path, write)``: write into a temporary file beside ``path``, flush it to the disk
  (``fsync``), then rename it over ``path`` (``os.replace``, atomic on POSIX and Windows), as SQLite and git
  do: a reader, a crash or ``kill -9`` sees the old file or the new one, never half of one. The rename
  replaces the name, never the old file's contents, so a hard link or a symbolic link at ``path`` is left
  pointing at what it pointed at. An error (a full disk: ``ENOSPC``) names ``path`` and leaves no temporary
  file behind.
- ``temporary_files(folder, name)``: what ``write_atomic`` left in ``folder`` for ``name`` when its process
  was killed mid-write (the one writer of a run removes them, run.py).
"""
import errno
import os
import re
import stat
import uuid

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
         (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path, what=None):
    """``path`` if it names a regular file (or a link to one); else FileNotFoundError or ValueError naming
    the path and ``what`` gave it (an option such as "--mask"; None when the path names itself)."""
    label = f"{what} {path}" if what else f"{path}"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{label}: no such file", os.fspath(path)) from None
    except OSError as e:                                  # a path under a file, too long, not allowed
        raise ValueError(f"{label}: cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in KINDS if test(st.st_mode)), "not a regular file")
        raise ValueError(f"{label} is {kind}, not a regular file")
    return path


def write_atomic(path, write, mode="wb"):
    """Call ``write(f)`` on a temporary file in ``path``'s folder, fsync it and rename it over ``path``.

    Any error removes the temporary file; an OSError without a file name (``ENOSPC`` from a write) is raised
    again naming ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # umask applies
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename in (None, tmp):
            raise OSError(e.errno, e.strerror or str(e), path) from e
        raise
    try:                        # make the rename itself durable (not possible on every OS)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


TEMPORARY = re.compile(r"^\.(?P<name>.+)\.\d+-[0-9a-f]{8}\.tmp$")     # write_atomic's temporary names


def temporary_files(folder, owned):
    """The temporary files ``write_atomic`` left in ``folder`` (its process killed mid-write) for the files
    ``owned(name)`` says are the caller's."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, f) for f in entries if (m := TEMPORARY.match(f)) and owned(m["name"])]
