"""The distribution ships every package of the tree, and never a salt/__init__.py."""

import configparser

from tests.support.paths import REPO_ROOT


def _setup_cfg():
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    return parser


def test_no_salt_init():
    # salt/ is a file root; an __init__.py would shadow the real salt package.
    assert not (REPO_ROOT / "salt" / "__init__.py").exists()


def test_every_package_is_listed():
    listed = set(_setup_cfg()["options"]["packages"].split())
    on_disk = {
        ".".join(p.parent.relative_to(REPO_ROOT).parts)
        for p in (REPO_ROOT / "kubesalt").rglob("__init__.py")
    }
    on_disk |= {p.parent.name for p in (REPO_ROOT / "salt" / "_utils").glob("*/__init__.py")}
    assert on_disk - listed == set(), "add these packages to setup.cfg [options] packages"
    assert listed - on_disk == set(), "setup.cfg lists packages that do not exist"
