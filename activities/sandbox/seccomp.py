"""The seccomp filter bubblewrap installs (``--seccomp FD``) before it runs the command.

Built once with libseccomp (through ctypes: Debian's libseccomp2, which Docker needs too)
and exported as the classic BPF program bwrap expects. Like Docker's default profile it is
an allow-list by default with the kernel-facing, escape-prone calls refused with EPERM:
mounts, module loading, kexec, BPF, perf, ptrace and cross-process memory, keyrings, new
namespaces (``unshare``, ``setns`` and ``clone`` with any CLONE_NEW* flag), io_uring,
userfaultfd, handle-based opens, clock and swap changes. ``clone3`` answers ENOSYS, so the
C library falls back to ``clone``, whose flags the filter can see.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile

from naestro.errors import SandboxError

_ALLOW = 0x7FFF0000
_CMP_MASKED_EQ = 7
# Every CLONE_NEW* flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
_CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
_CLONE_NEW_ANY |= 0x20000000 | 0x40000000 | 0x00000080
DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "swapon", "swapoff", "reboot",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "keyctl",
    "add_key", "request_key", "unshare", "setns", "userfaultfd", "open_by_handle_at",
    "name_to_handle_at", "io_uring_setup", "io_uring_enter", "io_uring_register", "acct",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "quotactl",
    "iopl", "ioperm", "vhangup", "uselib", "fanotify_init", "lookup_dcookie", "move_pages",
    "migrate_pages", "personality",
)  # fmt: skip


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SandboxError(f"libseccomp is missing ({exc}): apt-get install libseccomp2") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
    ]  # fmt: skip
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _rule(lib: ctypes.CDLL, ctx: int, action: int, name: str, *cmps: _ArgCmp) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:
        return  # not a syscall on this architecture
    array = (_ArgCmp * len(cmps))(*cmps) if cmps else None
    if lib.seccomp_rule_add_array(ctx, action, number, len(cmps), array) != 0:
        raise SandboxError(f"libseccomp refused the rule for {name}")


@functools.cache
def filter_program() -> bytes:
    """The BPF program (cached: it is the same for every run)."""
    lib = _library()
    ctx = lib.seccomp_init(_ALLOW)
    if not ctx:
        raise SandboxError("libseccomp could not create a filter")
    try:
        for name in DENIED:
            _rule(lib, ctx, _errno_action(errno.EPERM), name)
        # clone's flags are argument 0 on x86-64 and arm64: one rule per CLONE_NEW* bit
        # (rules for a syscall are OR-ed; the comparisons inside one rule are AND-ed).
        for bit in (1 << n for n in range(32) if _CLONE_NEW_ANY & (1 << n)):
            new_ns = _ArgCmp(0, _CMP_MASKED_EQ, bit, bit)
            _rule(lib, ctx, _errno_action(errno.EPERM), "clone", new_ns)
        _rule(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        with tempfile.TemporaryFile() as out:
            if lib.seccomp_export_bpf(ctx, out.fileno()) != 0:
                raise SandboxError("libseccomp could not export the filter")
            out.seek(0)
            return out.read()
    finally:
        lib.seccomp_release(ctx)


def filter_fd() -> int:
    """A pipe's read end holding the program, for ``bwrap --seccomp FD`` (bwrap reads it
    to EOF; the caller closes it after the launch)."""
    program = filter_program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write_end)
    return read_end
