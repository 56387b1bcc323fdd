"""A Docker image of the reference gateway, made from what is on this machine (nothing is pulled).

`docker import` turns a tarball into an image, so the image is a minimal root filesystem copied
from the host: the Python interpreter this test runs on (binary, libpython, the standard library
without tests and GUI toolkits), the shared libraries `ldd` says they load, the site-packages
distributions the gateway imports (with their declared requirements), and the project's
`reference/` and `catalogue/` sources. Files keep their host paths, so the interpreter finds its
prefix unchanged; `/usr/local/bin/python` points at it and the image's ENTRYPOINT runs the gateway.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.plugin import PROJECT_ROOT

APP_DIR = "/app"
SOURCES = ("reference", "catalogue")
STDLIB_SKIPPED = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}
# What the gateway imports at start and what uvicorn imports lazily once it serves.
PROBE = ("import reference.gateway.__main__, reference.gateway.app, uvicorn.protocols.http.h11_impl, "
         "uvicorn.lifespan.on, uvicorn.loops.asyncio, sys; "
         "print('\\n'.join(sorted({n.split('.')[0] for n, m in list(sys.modules.items()) "
         "if 'site-packages' in (getattr(m, '__file__', None) or '')})))")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class ImageRecipe:
    interpreter: Path
    files: frozenset[Path]
    site_files: frozenset[tuple[Path, str]]  # (host file, path inside the image)


def _shared_libraries(binaries: Iterable[Path]) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
                found.add(Path(parts[parts.index("=>") + 1]))
            elif parts and parts[0].startswith("/"):
                found.add(Path(parts[0]))  # the dynamic loader
    return found


def _stdlib_files(stdlib: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in STDLIB_SKIPPED and not d.startswith("config-")]
        for name in files:
            if not name.startswith("_tkinter"):
                yield Path(root) / name


def _imported_distributions() -> set[str]:
    tops = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                          cwd=PROJECT_ROOT).stdout.split()
    by_top = metadata.packages_distributions()
    wanted = {dist for top in tops for dist in by_top.get(top, []) if dist != "setuptools"}
    closure: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name.lower() in closure:
            continue
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # a requirement whose marker excludes this Python, so it was never installed
        closure.add(name.lower())
        for requirement in requirements:
            match = REQUIREMENT_NAME.match(requirement)
            if match and "extra ==" not in requirement:
                wanted.add(match.group(1))
    return closure


def _site_files(distributions: set[str]) -> set[tuple[Path, str]]:
    chosen: set[tuple[Path, str]] = set()
    for dist in metadata.distributions():
        if dist.metadata["Name"].lower() not in distributions:
            continue
        for entry in dist.files or []:
            host = Path(str(entry.locate())).resolve()
            if ".." in entry.parts or not host.is_file():
                continue  # scripts installed outside site-packages
            chosen.add((host, f"{APP_DIR}/site-packages/{entry.as_posix()}"))
    for source in SOURCES:
        for path in (PROJECT_ROOT / source).rglob("*"):
            if path.is_file():
                chosen.add((path, f"{APP_DIR}/src/{path.relative_to(PROJECT_ROOT).as_posix()}"))
    return chosen


def recipe() -> ImageRecipe:
    interpreter = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "installed_base": sys.base_prefix})["stdlib"])
    libdir = Path(sysconfig.get_config_var("LIBDIR") or Path(sys.base_prefix) / "lib")
    files = {interpreter, *_stdlib_files(stdlib), *libdir.glob("libpython3*.so*")}
    site = _site_files(_imported_distributions())
    binaries = [interpreter, *(f for f in files if f.suffix == ".so" or ".so." in f.name),
                *(host for host, _ in site if host.suffix == ".so")]
    return ImageRecipe(interpreter, frozenset(files | _shared_libraries(binaries)), frozenset(site))


class _RootFs:
    """A tarball where each host path keeps its place, with every symlink on the way to it."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar, self.added = tar, set[str]()

    def host_path(self, path: Path) -> None:
        """Add `path` as the host has it; a symlink is added as one, together with what it points to."""
        if path.parent.resolve() != path.parent:
            self.host_path(path.parent)  # records the symlinked directory on the way
            path = path.parent.resolve() / path.name
        name = str(path).lstrip("/")
        if not name or name in self.added:
            return
        self.host_path(path.parent)
        self.added.add(name)
        if path.is_symlink():
            link = os.readlink(path)
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, link
            self.tar.addfile(info)
            self.host_path(Path(os.path.normpath(path.parent / link)))
        else:
            self.tar.add(str(path), arcname=name, recursive=False)

    def file(self, host: Path, name: str, data: bytes | None = None) -> None:
        """Add `host` (or `data`) at `name`, creating the directories above it."""
        name = name.lstrip("/")
        if name in self.added:
            return
        self._dirs(Path(name).parent)
        self.added.add(name)
        if data is None:
            self.tar.add(str(host), arcname=name, recursive=False)
        else:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        name = name.lstrip("/")
        self._dirs(Path(name).parent)
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self.tar.addfile(info)
        self.added.add(name)

    def _dirs(self, path: Path, mode: int = 0o755) -> None:
        name = str(path)
        if name in ("", ".") or name in self.added:
            return
        self._dirs(path.parent)
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        self.tar.addfile(info)
        self.added.add(name)


def write_rootfs(recipe: ImageRecipe, out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        rootfs = _RootFs(tar)
        for path in sorted(recipe.files):
            rootfs.host_path(path)
        for host, name in sorted(recipe.site_files):
            rootfs.file(host, name)
        rootfs.symlink("/usr/local/bin/python", str(recipe.interpreter))
        rootfs._dirs(Path("tmp"), 0o1777)
        rootfs.file(Path("/etc/passwd"), "/etc/passwd", b"root:x:0:0:root:/root:/bin/false\n")


IMAGE_CHANGES = (
    f"ENV PYTHONPATH={APP_DIR}/site-packages:{APP_DIR}/src",
    "ENV PYTHONUNBUFFERED=1",
    f"WORKDIR {APP_DIR}/src",
    'ENTRYPOINT ["/usr/local/bin/python", "-m", "reference.gateway"]',
)


def import_image(docker_cli: str, docker_host: str, tarball: Path, tag: str) -> None:
    """`docker import` the root filesystem as `tag`; raises CalledProcessError with docker's stderr."""
    command = [docker_cli, "--host", docker_host, "import"]
    for change in IMAGE_CHANGES:
        command += ["--change", change]
    subprocess.run(command + [str(tarball), tag], check=True, capture_output=True, text=True, timeout=300)
