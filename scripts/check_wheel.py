"""Checks a built wheel before anyone installs it: file list, tags, architecture and the shared
libraries its native module needs.

    python scripts/check_wheel.py target/dist/wcodec-0.1.0-cp39-abi3-manylinux_2_28_aarch64.whl \
        --arch aarch64 --glibc 2.28

Works for wheels of any architecture (it reads the ELF file; nothing is loaded), so the aarch64
wheel is checked on an x86-64 machine. Needs pyelftools and auditwheel (.venv-tools has both).
CUDA must not appear among the libraries: wcodec-cuda loads libcuda and NVRTC at run time, so
the wheel installs and imports on machines without a GPU.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import zipfile
from pathlib import PurePosixPath

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

# The libraries every manylinux policy lets a wheel take from the system (PEP 600's glibc set
# that a Rust cdylib can need); anything else would have to be bundled, and nothing should be.
SYSTEM_LIBS = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1"}
LOADERS = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}
ELF_MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64"}
CONSOLE_SCRIPTS = {"wcodec", "wcodec-encode", "wcodec-decode", "wcodec-verify"}
PACKAGE_FILES = {"__init__.py", "py.typed", "_wcodec.pyi", "_wcodec.abi3.so", "_cli.py"}


class WheelError(Exception):
    pass


def glibc_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.removeprefix("GLIBC_").split("."))


def check_native(data: bytes, arch: str, max_glibc: str) -> list[str]:
    """Returns the DT_NEEDED list after checking machine, libraries and glibc symbol versions."""
    elf = ELFFile(io.BytesIO(data))
    machine = elf["e_machine"]
    if machine != ELF_MACHINES[arch]:
        raise WheelError(f"native module is {machine}, expected {ELF_MACHINES[arch]}")
    needed: list[str] = []
    newest: tuple[int, ...] = ()
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed += [tag.needed for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
        if isinstance(section, GNUVerNeedSection):
            for _, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    if aux.name.startswith("GLIBC_") and aux.name[6:7].isdigit():
                        newest = max(newest, glibc_version(aux.name))
    stray = sorted(set(needed) - SYSTEM_LIBS - {LOADERS[arch]})
    if stray:
        raise WheelError(f"native module needs libraries outside the manylinux set: {stray}")
    if newest > glibc_version(max_glibc):
        found = ".".join(map(str, newest))
        raise WheelError(f"native module needs glibc {found} symbols, more than {max_glibc}")
    return needed


def check(path: str, arch: str, max_glibc: str) -> None:
    name = PurePosixPath(path).name
    match = re.fullmatch(r"wcodec-([^-]+)-cp39-abi3-manylinux_(\d+)_(\d+)_(\w+)\.whl", name)
    if not match:
        raise WheelError(f"{name}: not an abi3 (CPython >= 3.9) manylinux wheel name")
    version, tag_major, tag_minor, tag_arch = match.groups()
    if tag_arch != arch or glibc_version(f"{tag_major}.{tag_minor}") > glibc_version(max_glibc):
        raise WheelError(f"{name}: tagged manylinux_{tag_major}_{tag_minor}_{tag_arch}")
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        print(f"{name}: {len(names)} files")
        for info in wheel.infolist():
            print(f"  {info.file_size:>12}  {info.filename}")
        dist_info = f"wcodec-{version}.dist-info"
        package = {n.removeprefix("wcodec/") for n in names if n.startswith("wcodec/")}
        missing = sorted(PACKAGE_FILES - package)
        if missing:
            raise WheelError(f"wheel lacks wcodec/{missing}")
        outside = sorted(n for n in names if not n.startswith(("wcodec/", f"{dist_info}/")))
        if outside:
            # auditwheel repair would put bundled libraries in wcodec.libs/: there must be none.
            raise WheelError(f"files outside the package and its metadata: {outside}")
        natives = [n for n in names if ".so" in PurePosixPath(n).name]
        if natives != ["wcodec/_wcodec.abi3.so"]:
            raise WheelError(f"expected one native module, found {natives}")
        wheel_meta = wheel.read(f"{dist_info}/WHEEL").decode()
        if f"Tag: cp39-abi3-manylinux_{tag_major}_{tag_minor}_{arch}" not in wheel_meta:
            raise WheelError(f"{dist_info}/WHEEL does not carry the file name's tag:\n{wheel_meta}")
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        scripts = set(re.findall(r"^([\w-]+)\s*=\s*wcodec\._cli:", entry_points, re.MULTILINE))
        if scripts != CONSOLE_SCRIPTS:
            raise WheelError(f"console scripts {sorted(scripts)}, expected {sorted(CONSOLE_SCRIPTS)}")
        needed = check_native(wheel.read("wcodec/_wcodec.abi3.so"), arch, max_glibc)
    print(f"native module ({arch}) needs: {', '.join(needed)}; no glibc symbol newer than {max_glibc}")
    # auditwheel's own verdict, from its manylinux policies (it also reads foreign architectures).
    result = subprocess.run(["auditwheel", "show", path], capture_output=True, text=True, check=False)
    print(result.stdout.strip())
    if result.returncode != 0:
        raise WheelError(f"auditwheel show failed:\n{result.stderr}")
    verdict = re.search(r'consistent with\s+the following platform tag:\s+"manylinux_(\d+)_(\d+)_(\w+)"', result.stdout)
    if not verdict or verdict.group(3) != arch:
        raise WheelError("auditwheel show gave no manylinux tag for this architecture")
    if glibc_version(f"{verdict.group(1)}.{verdict.group(2)}") > glibc_version(max_glibc):
        raise WheelError(f"auditwheel says manylinux_{verdict.group(1)}_{verdict.group(2)}, above {max_glibc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("--arch", required=True, choices=sorted(ELF_MACHINES))
    parser.add_argument("--glibc", default="2.28", help="newest glibc the wheel may need (default 2.28)")
    args = parser.parse_args()
    try:
        check(args.wheel, args.arch, args.glibc)
    except (WheelError, OSError, zipfile.BadZipFile, KeyError) as e:
        print(f"check_wheel: {args.wheel}: {e}", file=sys.stderr)
        return 1
    print(f"check_wheel: {args.wheel}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
