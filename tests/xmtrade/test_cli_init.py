"""`xmtrade init`, the `./xmtrade.yaml` layer every command reads, `config show --diff`, the
warning about an edited checkout's defaults, and shell completion."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from xmtrade.cli import main
from xmtrade.config import default_config_path, load_config

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_makes_a_folder_whose_config_is_the_packaged_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mine"
    code, out, _ = run(capsys, "init", str(folder))
    assert code == 0 and f"made {folder}: xmtrade.yaml" in out
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == [
        "README.md",
        "facts/1810.HK.csv",
        "grids/exits.yaml",
        "grids/random_search.yaml",
        "grids/rsi_stop.yaml",
        "grids/walkforward_small.yaml",
        "layers/stage1_only.yaml",
        "xmtrade.yaml",
    ]
    shipped = load_config()
    assert (folder / "facts/1810.HK.csv").read_bytes() == shipped.fundamentals.file.read_bytes()
    text = (folder / "xmtrade.yaml").read_text()
    # every key of the packaged file, with its comments
    packaged = yaml.safe_load(default_config_path().read_text())
    mine = yaml.safe_load(text)
    assert mine.keys() == packaged.keys()
    mine["fundamentals"].pop("file"), packaged["fundamentals"].pop("file")
    assert mine == packaged
    assert "# Yahoo ticker of Xiaomi Group-W" in text
    made = load_config([folder / "xmtrade.yaml"])
    assert made.fundamentals.file == folder / "facts" / "1810.HK.csv"
    assert made.config_hash() == shipped.config_hash()
    assert {p.stat().st_mode & 0o777 for p in folder.rglob("*") if p.is_dir()} <= {0o755, 0o775}
    assert not list(folder.glob(".xmtrade-init-*"))

    # never overwrites
    code, _, err = run(capsys, "init", str(folder))
    assert code == 2
    assert err.strip() == (
        f"xmtrade: error: {folder / 'xmtrade.yaml'}: already exists; xmtrade init never "
        "overwrites (choose another folder, or move the file away)"
    )

    # in the folder, every command reads ./xmtrade.yaml and says so, once, on stderr
    monkeypatch.chdir(folder)
    code, out, err = run(capsys, "config", "show", "--diff")
    assert code == 0
    assert err == "xmtrade: using ./xmtrade.yaml (over the packaged defaults)\n"
    assert out.splitlines()[0] == "# merged from: defaults, xmtrade.yaml"
    assert yaml.safe_load(out) == {"fundamentals": {"file": str(folder / "facts/1810.HK.csv")}}
    edited = text.replace("oversold: 30", "oversold: 27", 1)
    assert edited != text
    (folder / "xmtrade.yaml").write_text(edited)
    override = tmp_path / "o.yaml"
    override.write_text("exits:\n  rsi_overbought: 65\n")
    code, out, err = run(capsys, "config", "show", "--diff", "-c", str(override))
    assert code == 0 and err.count("using ./xmtrade.yaml") == 1
    changed = yaml.safe_load(out)
    assert changed["signals"] == {"rsi": {"oversold": 27}}
    assert changed["exits"] == {"rsi_overbought": 65}  # -c wins over ./xmtrade.yaml
    code, out, _ = run(capsys, "config", "validate")
    assert code == 0 and f"hash {load_config([folder / 'xmtrade.yaml']).config_hash()};" in out


def test_show_diff_without_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "show", "--diff")
    assert code == 0 and err == ""
    assert out.splitlines()[-1] == "# no value differs from the packaged defaults"


def test_a_bad_user_config_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "xmtrade.yaml").write_text("stop:\n  lookbak: 10\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "config", "validate")
    assert code == 2
    assert err.splitlines()[-1].startswith(
        "xmtrade: error: xmtrade.yaml: stop.lookbak: unknown key"
    )


def test_init_into_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    code, _, err = run(capsys, "init", str(target))
    assert code == 2
    assert err.strip() == f"xmtrade: error: {target}: is a file, expected a folder for xmtrade init"


def test_an_edited_checkout_default_warns_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "clone"
    (checkout / "xmtrade").mkdir(parents=True)
    (checkout / "xmtrade" / "config.py").write_text("")
    (checkout / "configs").mkdir()
    copy = checkout / "configs" / "default.yaml"
    shutil.copyfile(default_config_path(), copy)
    monkeypatch.chdir(checkout)
    code, _, err = run(capsys, "config", "validate")
    assert code == 0 and err == ""  # the same bytes: nothing to say
    copy.write_text(copy.read_text().replace("oversold: 30", "oversold: 25", 1))
    code, _, err = run(capsys, "config", "show")
    assert code == 0
    assert err.splitlines() == [
        f"xmtrade: warning: {Path('configs/default.yaml')} differs from the packaged defaults "
        f"this program reads ({default_config_path()}); edits there do nothing until you "
        "reinstall (pip install .), or pass it with -c configs/default.yaml"
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_verbs_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = run(capsys, "completion", "bash")
    assert code == 0

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (
            f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f"COMP_LINE='{line}'; COMP_POINT={len(line)}; _shtab_xmtrade; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        return done.stdout.split()

    assert complete("xmtrade", "pa") == ["paper"]
    assert complete("xmtrade", "paper", "st") == ["status", "step"] or complete(
        "xmtrade", "paper", "st"
    ) == ["step", "status"]
    assert "--account" in complete("xmtrade", "paper", "status", "--acc")
    assert complete("xmtrade", "i") == ["init"]


def test_zsh_completion_names_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = run(capsys, "completion", "zsh")
    assert code == 0 and script.startswith("#compdef xmtrade")
    for verb in ("init", "data", "config", "backtest", "paper", "sweep", "walkforward"):
        assert f"{verb}:" in script or f'"{verb}' in script or f"{verb} " in script
    if shutil.which("zsh"):
        done = subprocess.run(["zsh", "-n"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_a_run_folder_has_the_usual_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_prices_csv: Path
) -> None:
    import os

    home = tmp_path / "home"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(home)]) == 0
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        code = main(
            ["backtest", "--data-dir", str(home), "--out", str(out), "--start", "2025-06-02"]
        )
    finally:
        os.umask(old)
    capsys.readouterr()
    assert code == 0
    assert out.stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700


def test_the_commands_in_the_copied_grids_run_from_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each grid's comment says how to run it; in a user folder its paths are the folder's."""
    import shlex

    folder = tmp_path / "u"
    assert main(["init", str(folder)]) == 0
    grids = sorted((folder / "grids").glob("*.yaml"))
    assert grids
    for grid in grids:
        commands = [
            shlex.split(line.lstrip("# "))
            for line in grid.read_text().splitlines()
            if line.lstrip("# ").startswith("xmtrade ")
        ]
        assert commands, grid
        for words in commands:
            files = [words[n + 1] for n, w in enumerate(words) if w in ("--grid", "-c")]
            assert files and all((folder / f).is_file() for f in files), (grid, words)
            assert str(grid.relative_to(folder)) in files
