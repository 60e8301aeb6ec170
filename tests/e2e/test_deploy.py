"""Deployment on a Pi: the systemd unit, the install/uninstall scripts, shellcheck.

Needs Debian's ``systemd`` (systemd-analyze) and ``shellcheck``, which
scripts/install-test-deps.sh installs (scripts/test.sh runs it); nothing here is
skipped when they are missing: the test fails and says how to get them.

The install scripts run for real, unprivileged, in their ``--dry-run --root TMP``
mode: files go under TMP, commands are only printed.  Every command they may run
(apt-get, useradd, systemctl, pip...) is shadowed on PATH by a trip-wire that
records the call and fails, so a dry run that runs anything is caught.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from base64 import urlsafe_b64encode
from hashlib import sha256
from pathlib import Path

import pytest

from rig.cli import build_parser
from rig.config import load_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "macrorig.service"
EXAMPLE = REPO / "rig" / "examples" / "pi-hq-tmc2209.toml"
INSTALL = REPO / "scripts" / "install-pi.sh"
UNINSTALL = REPO / "scripts" / "uninstall-pi.sh"
BINARY = "/opt/macrorig/venv/bin/macrorig"
TRIPWIRED = (
    "apt-get",
    "apt",
    "dpkg",
    "useradd",
    "usermod",
    "userdel",
    "groupadd",
    "systemctl",
    "chown",
    "python3",
    "pip",
    "pip3",
)


def debian(version: int, codename: str) -> str:
    """/etc/os-release of Debian, and of the 64-bit Raspberry Pi OS (which says debian)."""
    return (
        f'PRETTY_NAME="Debian GNU/Linux {version} ({codename})"\n'
        'NAME="Debian GNU/Linux"\n'
        f'VERSION_ID="{version}"\n'
        f'VERSION="{version} ({codename})"\n'
        f"VERSION_CODENAME={codename}\n"
        "ID=debian\n"
    )


RASPBERRY_PI_OS = debian(12, "bookworm")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run scripts/install-test-deps.sh")
    return path


# -- the unit file ---------------------------------------------------------------


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (keys may repeat)."""
    section, found = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def verify_problems(unit_text: str, tmp_path: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about this unit (empty when it is clean).

    verify insists that ExecStart=/ExecStopPost= binaries exist, and the venv does not
    exist here, so they become /bin/true (the arguments stay as they are).

    Only lines about *our* unit count: verify also loads the units ours depends on
    (network.target, multi-user.target, basic.target...) and, depending on the
    machine or container, may print notes about those or about the host (e.g. no
    systemd as PID 1, missing /proc entries).  Lines about our unit always name it:
    "<path>/macrorig.service:<line>: ..." or "macrorig.service: ...".
    """
    need("systemd-analyze")
    work = tmp_path / "unit"
    work.mkdir()
    assert unit_text.count(BINARY) == 2, "ExecStart and ExecStopPost run the venv's macrorig"
    path = work / "macrorig.service"
    path.write_text(unit_text.replace(BINARY, "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
    )
    lines = (result.stdout + result.stderr).splitlines()
    ours = [line for line in lines if "macrorig.service" in line or str(work) in line]
    if result.returncode != 0:
        ours.append(f"systemd-analyze verify exited with {result.returncode}: {lines}")
    return ours


def test_the_unit_verifies_clean(tmp_path):
    assert verify_problems(UNIT.read_text(), tmp_path) == []


def test_verify_would_catch_a_broken_unit(tmp_path):
    # The filter above must not swallow real problems: a typo and a bad value.
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    broken = broken.replace("DevicePolicy=closed", "DevicePolicy=shut")
    problems = verify_problems(broken, tmp_path)
    assert any("Unknown key" in line and "ProtectSytem" in line for line in problems)
    assert any("device policy" in line and "shut" in line for line in problems)


def test_the_unit_runs_the_daemon_as_asked():
    found = directives(UNIT.read_text())
    service = {key: value for section, key, value in found if section == "Service"}
    many = {}
    for section, key, value in found:
        if section == "Service":
            many.setdefault(key, []).append(value)
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "5",
        "User": "macrorig",
        "Group": "macrorig",
        "StateDirectory": "macrorig",
        "ConfigurationDirectory": "macrorig",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "NoNewPrivileges": "true",
        "PrivateTmp": "true",
        "ProtectKernelTunables": "true",
        "ProtectControlGroups": "true",
        "RestrictSUIDSGID": "true",
        "LockPersonality": "true",
        "DevicePolicy": "closed",
        "ExecStart": f"{BINARY} serve --config /etc/macrorig/config.toml "
        "--data /var/lib/macrorig --host 0.0.0.0 --port 8000",
        "ExecStopPost": f"-{BINARY} rail release --config /etc/macrorig/config.toml",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert set(service["SupplementaryGroups"].split()) == {"gpio", "video"}
    assert "MACRORIG_DATA=/var/lib/macrorig" in many["Environment"]
    # lgpio's notification FIFO needs a writable directory under ProtectSystem=strict.
    assert "LG_WD=/run/macrorig" in many["Environment"]
    assert service["WorkingDirectory"] == "/run/macrorig"
    assert service["RuntimeDirectory"] == "macrorig"
    assert set(many["DeviceAllow"]) == {
        "char-gpiochip rw",
        "char-video4linux rw",
        "char-media rw",
        "char-dma_heap rw",
    }
    assert "PrivateDevices" not in service  # it would hide /dev/gpiochip* and the camera
    assert ("Install", "WantedBy", "multi-user.target") in found


def test_exec_stop_post_is_a_command_line_the_cli_accepts():
    service = {key: value for section, key, value in directives(UNIT.read_text())}
    argv = service["ExecStopPost"].lstrip("-").split()
    assert argv[0] == BINARY
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.rail_action, args.config, args.sim) == (
        "rail",
        "release",
        "/etc/macrorig/config.toml",
        False,
    )


# -- shellcheck ---------------------------------------------------------------------


def test_every_script_is_shellcheck_clean():
    need("shellcheck")
    scripts = sorted(str(path) for path in (REPO / "scripts").glob("*.sh"))
    scripts.append(str(REPO / ".ci" / "run"))
    assert str(INSTALL) in scripts and str(UNINSTALL) in scripts
    result = subprocess.run(
        ["shellcheck", "--shell=bash", *scripts], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_test_dependencies_include_systemd_and_shellcheck():
    text = (REPO / "scripts" / "install-test-deps.sh").read_text()
    assert "command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)" in text
    assert "command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)" in text


# -- install-pi.sh / uninstall-pi.sh in --dry-run --root mode -------------------------


@pytest.fixture
def tripwires(tmp_path):
    """A PATH on which every command a dry run must not run records itself and fails."""
    bin_dir = tmp_path / "tripwires"
    bin_dir.mkdir()
    log = tmp_path / "ran.log"
    for name in TRIPWIRED:
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 97\n')
        script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "log": log}


@pytest.fixture
def target(tmp_path):
    """An empty Raspberry Pi OS Bookworm system: os-release, users, groups, hostname."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(RASPBERRY_PI_OS)
    (root / "etc" / "rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n"
    )
    (root / "etc" / "group").write_text(
        "root:x:0:\nvideo:x:44:pi\nrender:x:105:pi\ngpio:x:997:pi\npi:x:1000:\n"
    )
    (root / "etc" / "hostname").write_text("rigpi\n")
    return root


def run_script(script: Path, root: Path, tripwires, *args: str):
    env = dict(os.environ, PATH=tripwires["PATH"], LC_ALL="C")
    result = subprocess.run(
        [str(script), "--dry-run", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    ran = tripwires["log"].read_text() if tripwires["log"].exists() else ""
    assert ran == "", f"a dry run ran commands:\n{ran}"
    return result


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root: kind, mode, mtime and content (for files)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[str(path.relative_to(root))] = (
            stat.S_IFMT(info.st_mode),
            stat.S_IMODE(info.st_mode),
            info.st_mtime_ns,
            content,
        )
    return found


def commands(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


BASE = {
    "etc",
    "etc/os-release",
    "etc/rpi-issue",
    "etc/passwd",
    "etc/group",
    "etc/hostname",
}
INSTALLED = {
    "opt",
    "opt/macrorig",
    "etc/macrorig",
    "etc/macrorig/config.toml",
    "var",
    "var/lib",
    "var/lib/macrorig",
    "etc/systemd",
    "etc/systemd/system",
    "etc/systemd/system/macrorig.service",
}


def test_install_dry_run_writes_the_files_and_prints_the_commands(target, tripwires):
    result = run_script(INSTALL, target, tripwires)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""

    # Exactly these files and directories, nothing else (no venv: that is a command).
    assert set(snapshot(target)) == BASE | INSTALLED
    assert (target / "etc/systemd/system/macrorig.service").read_bytes() == UNIT.read_bytes()
    config = target / "etc/macrorig/config.toml"
    assert config.read_bytes() == EXAMPLE.read_bytes()
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    loaded = load_config(config)  # the example is a valid config as installed
    assert (loaded.rail.driver, loaded.rail.pins.enable, loaded.light.pin) == ("tmc2209", 25, 18)
    assert stat.S_IMODE((target / "var/lib/macrorig").stat().st_mode) == 0o750

    assert commands(result.stdout) == [
        "apt-get update",
        "apt-get install -y python3-picamera2 python3-venv python3-lgpio",
        "useradd --system --user-group --no-create-home --home-dir /var/lib/macrorig "
        "--shell /usr/sbin/nologin --groups gpio,video,render macrorig",
        "python3 -m venv --system-site-packages /opt/macrorig/venv",
        f"/opt/macrorig/venv/bin/pip install --disable-pip-version-check --upgrade '{REPO}[pi]'",
        "/opt/macrorig/venv/bin/pip install --disable-pip-version-check --force-reinstall "
        "--no-deps simplejpeg",
        "/opt/macrorig/venv/bin/python -c 'import picamera2'",
        "chown macrorig:macrorig /var/lib/macrorig",
        "systemctl daemon-reload",
        "systemctl enable --now macrorig.service",
    ]
    out = result.stdout
    assert "system: Debian GNU/Linux 12 (bookworm)" in out
    assert "created /etc/macrorig/config.toml from rig/examples/pi-hq-tmc2209.toml" in out
    assert re.search(r"phone: +http://rigpi\.local:8000/", out)
    assert "sudo cat /var/lib/macrorig/api-token" in out
    assert "journalctl -u macrorig -f" in out


def _wheel(directory: Path, name: str, version: str, module: bytes) -> Path:
    """A minimal pure-Python wheel (what pip needs: the module, METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={urlsafe_b64encode(sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.mark.slow
def test_simplejpeg_goes_into_the_venv_even_when_apt_has_the_same_version(
    target, tripwires, tmp_path
):
    """The install's simplejpeg command, run with pip offline against a stand-in for the Pi:
    a venv that sees a "system" simplejpeg 1.8.2 (apt's, built for numpy 1) after its own
    site-packages, as --system-site-packages does, and PyPI offering the same 1.8.2.
    ``pip install --upgrade`` counts the system copy as installed and keeps it; the venv
    must get its own copy, which it then imports first."""
    result = run_script(INSTALL, target, tripwires)
    assert result.returncode == 0, result.stderr
    pip_lines = [c for c in commands(result.stdout) if "simplejpeg" in c.split()]
    assert len(pip_lines) == 1 and pip_lines[0].startswith("/opt/macrorig/venv/bin/pip install ")
    # The checkout's own install (it needs PyPI) is not what this test is about.
    args = [a for a in pip_lines[0].split()[1:] if "[pi]" not in a]

    system = tmp_path / "dist-packages"
    (system / "simplejpeg").mkdir(parents=True)
    (system / "simplejpeg" / "__init__.py").write_text('BUILT_FOR = "numpy 1"\n')
    (system / "simplejpeg-1.8.2.dist-info").mkdir()
    (system / "simplejpeg-1.8.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: simplejpeg\nVersion: 1.8.2\n"
    )
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index, "simplejpeg", "1.8.2", b'BUILT_FOR = "numpy 2"\n')
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "apt-dist-packages.pth").write_text(f"{system}\n")  # after the venv's own
    env = {
        "PATH": os.environ["PATH"],
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(index),
        "PIP_CONFIG_FILE": os.devnull,
    }
    ran = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (Path(site) / "simplejpeg" / "__init__.py").exists(), ran.stdout
    imported = subprocess.run(
        [str(python), "-c", "import simplejpeg; print(simplejpeg.BUILT_FOR)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert imported.stdout.strip() == "numpy 2"
    assert (system / "simplejpeg" / "__init__.py").exists()  # apt's copy is left alone


def test_install_twice_changes_nothing_and_keeps_an_edited_config(target, tripwires):
    assert run_script(INSTALL, target, tripwires).returncode == 0
    config = target / "etc/macrorig/config.toml"
    edited = config.read_text().replace("lead_mm = 1.0 ", "lead_mm = 0.5 ")
    assert edited != EXAMPLE.read_text()
    config.write_text(edited)
    before = snapshot(target)

    again = run_script(INSTALL, target, tripwires)

    assert again.returncode == 0, again.stderr
    assert snapshot(target) == before  # nothing new, nothing rewritten, not even touched
    assert config.read_text() == edited
    assert "created" not in again.stdout
    assert "kept /etc/macrorig/config.toml" in again.stdout
    assert "unchanged /etc/systemd/system/macrorig.service" in again.stdout
    ran = commands(again.stdout)
    assert "systemctl daemon-reload" not in ran  # the unit did not change
    assert ran[-2:] == [
        "systemctl enable --now macrorig.service",
        "systemctl restart macrorig.service",
    ]


def test_an_upgrade_replaces_a_changed_unit_and_reloads(target, tripwires):
    assert run_script(INSTALL, target, tripwires).returncode == 0
    unit = target / "etc/systemd/system/macrorig.service"
    unit.write_text(unit.read_text().replace("RestartSec=5", "RestartSec=1"))
    again = run_script(INSTALL, target, tripwires)
    assert again.returncode == 0
    assert unit.read_bytes() == UNIT.read_bytes()
    assert "updated /etc/systemd/system/macrorig.service" in again.stdout
    ran = commands(again.stdout)
    assert ran.index("systemctl daemon-reload") < ran.index("systemctl restart macrorig.service")


def test_an_existing_user_only_joins_the_groups_it_lacks(target, tripwires):
    with (target / "etc/passwd").open("a") as passwd:
        passwd.write("macrorig:x:998:998::/var/lib/macrorig:/usr/sbin/nologin\n")
    (target / "etc/group").write_text(
        "video:x:44:pi\nrender:x:105:pi,macrorig\ngpio:x:997:macrorig,pi\nmacrorig:x:998:\n"
    )
    result = run_script(INSTALL, target, tripwires)
    assert result.returncode == 0
    users = [c for c in commands(result.stdout) if c.startswith(("user", "group"))]
    assert users == ["usermod --append --groups video macrorig"]


def test_a_system_without_the_gpio_group_gets_one(target, tripwires):
    (target / "etc/group").write_text("video:x:44:\n")  # plain Debian: no gpio, no render
    result = run_script(INSTALL, target, tripwires)
    assert result.returncode == 0
    ran = commands(result.stdout)
    assert "groupadd --system gpio" in ran
    assert any(c.startswith("useradd ") and c.endswith("--groups gpio,video macrorig") for c in ran)


@pytest.mark.parametrize(
    ("os_release", "rpi_issue", "problem"),
    [
        (RASPBERRY_PI_OS, False, "is Debian, not Raspberry Pi OS"),
        (debian(11, "bullseye"), True, "is older than Raspberry Pi OS Bookworm (12)"),
        ('PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nVERSION_ID="24.04"\n', False, "is not"),
    ],
)
def test_other_systems_are_refused_unless_forced(target, tripwires, os_release, rpi_issue, problem):
    (target / "etc/os-release").write_text(os_release)
    if not rpi_issue:
        (target / "etc/rpi-issue").unlink()
    before = snapshot(target)
    refused = run_script(INSTALL, target, tripwires)
    assert refused.returncode == 1
    assert problem in refused.stderr and "--force" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert snapshot(target) == before  # refused before writing anything

    forced = run_script(INSTALL, target, tripwires, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "going on because of --force" in forced.stdout
    assert (target / "etc/macrorig/config.toml").exists()


def test_the_raspberry_pi_apt_archive_also_marks_raspberry_pi_os(target, tripwires):
    (target / "etc/rpi-issue").unlink()
    sources = target / "etc/apt/sources.list.d"
    sources.mkdir(parents=True)
    (sources / "raspi.sources").write_text(
        "Types: deb\nURIs: http://archive.raspberrypi.com/debian/\nSuites: trixie\n"
    )
    (target / "etc/os-release").write_text(debian(13, "trixie"))
    result = run_script(INSTALL, target, tripwires)
    assert result.returncode == 0, result.stderr
    assert "system: Debian GNU/Linux 13 (trixie)" in result.stdout


@pytest.mark.parametrize("script", [INSTALL, UNINSTALL], ids=["install", "uninstall"])
def test_dry_run_and_root_go_together(script, tmp_path, tripwires):
    env = dict(os.environ, PATH=tripwires["PATH"])
    alone = subprocess.run(
        [str(script), "--dry-run"], capture_output=True, text=True, env=env, timeout=60
    )
    assert alone.returncode == 2 and "--dry-run needs --root" in alone.stderr
    root_only = subprocess.run(
        [str(script), "--root", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert root_only.returncode == 2 and "--root needs --dry-run" in root_only.stderr
    assert not tripwires["log"].exists()


def test_uninstall_removes_the_service_and_venv_but_keeps_config_and_stacks(target, tripwires):
    assert run_script(INSTALL, target, tripwires).returncode == 0
    (target / "opt/macrorig/venv/bin").mkdir(parents=True)  # as a real install would have
    (target / "var/lib/macrorig/api-token").write_text("secret\n")

    result = run_script(UNINSTALL, target, tripwires)

    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "systemctl disable --now macrorig.service",  # stops it: ExecStopPost still runs
        "systemctl daemon-reload",
        "systemctl reset-failed macrorig.service",
    ]
    lines = result.stdout.splitlines()
    assert lines.index("removed /etc/systemd/system/macrorig.service") > lines.index(
        "+ systemctl disable --now macrorig.service"
    )
    assert "removed /opt/macrorig" in lines
    assert not (target / "etc/systemd/system/macrorig.service").exists()
    assert not (target / "opt/macrorig").exists()
    assert (target / "etc/macrorig/config.toml").read_bytes() == EXAMPLE.read_bytes()
    assert (target / "var/lib/macrorig/api-token").read_text() == "secret\n"
    assert "kept /etc/macrorig (remove it with --purge)" in lines

    before = snapshot(target)
    again = run_script(UNINSTALL, target, tripwires)
    assert again.returncode == 0
    assert commands(again.stdout) == []
    assert "removed" not in again.stdout
    assert snapshot(target) == before


def test_uninstall_purge_removes_config_stacks_and_user(target, tripwires):
    assert run_script(INSTALL, target, tripwires).returncode == 0
    with (target / "etc/passwd").open("a") as passwd:
        passwd.write("macrorig:x:998:998::/var/lib/macrorig:/usr/sbin/nologin\n")
    result = run_script(UNINSTALL, target, tripwires, "--purge")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[-1] == "userdel macrorig"
    assert set(snapshot(target)) == BASE | {
        "etc/systemd",
        "etc/systemd/system",
        "opt",
        "var",
        "var/lib",
    }
