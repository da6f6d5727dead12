"""The example data and the orchestration renderer the state-tree tests share
(tests/functional/states): pillar.example split as Terraform and a host layer write it,
and orchestrations rendered on the master's own minion with the runners answered by a test
double (``fake_modules/runner_only``)."""

import copy
import hashlib
import hmac

import yaml

from tests.support.paths import EXT_DIRS
from tests.support.paths import REPO_ROOT
from tests.support.paths import SALT_DIR

EXAMPLE = yaml.safe_load((REPO_ROOT / "pillar.example").read_text(encoding="utf-8"))
INVENTORY_KEYS = ("domain", "networks", "salt_master", "nodes")
MICROK8S_INVENTORY_KEYS = (
    "control_planes",
    "workers",
    "floating_ip",
    "api_address",
    "extra_sans",
    "channel",
)
JOIN_SECRET = "0123456789abcdef" * 4

ORCH_DIR = SALT_DIR / "states" / "orch"
FAKE_MODULES = REPO_ROOT / "tests" / "functional" / "states" / "fake_modules"
FAKES = FAKE_MODULES / "runner_only"
SALT = "salt.lab.kubesalt.test"
BASTION = "bastion.lab.kubesalt.test"
MASTER = "k8s-master.lab.kubesalt.test"
WORKERS = ["k8s-worker-0.lab.kubesalt.test", "k8s-worker-1.lab.kubesalt.test"]


def split_example():
    """Return (inventory as Terraform writes it, the other settings) from pillar.example."""
    settings = copy.deepcopy(EXAMPLE["kubesalt"])
    inventory = {key: settings.pop(key) for key in INVENTORY_KEYS}
    inventory["microk8s"] = {key: settings["microk8s"].pop(key) for key in MICROK8S_INVENTORY_KEYS}
    return {"kubesalt": inventory}, {"kubesalt": settings}


def token_for(minion_id, secret=JOIN_SECRET):
    """The join token the pillar derives for ``minion_id`` from the master's ``secret``."""
    return hmac.new(secret.encode(), minion_id.encode(), hashlib.sha256).hexdigest()[:32]


def write_sls(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, default_flow_style=False), encoding="utf-8")


def render_orch(node_loaders, sls, answers):
    """The steps of ``orch/<sls>`` rendered by the master's own minion, the runner functions
    answering with ``answers`` (function name -> return value)."""
    loaders = node_loaders(
        SALT,
        module_dirs=[*EXT_DIRS["module_dirs"], str(FAKES)],
        kubesalt_fake_runner=answers,
    )
    return loaders.modules.slsutil.renderer(path=str(ORCH_DIR / sls))


def render_cluster(node_loaders, published=(), up=(), preview=None):
    """orch/cluster.sls with the mine publishing ``published``, ``up`` answering and the
    converged-cluster preview returning ``preview``."""
    answers = {
        "cache.mine": {minion: {"kubesalt_private_ip": ["10.1.0.250"]} for minion in published},
        "manage.up": list(up),
        "salt.execute": preview,
    }
    return render_orch(node_loaders, "cluster.sls", answers)


def args_of(step):
    """The function and its merged arguments of one orchestration step."""
    ((function, items),) = ((k, v) for k, v in step.items() if not k.startswith("__"))
    merged = {"function": function}
    for item in items:
        if isinstance(item, dict):
            merged.update(item)
    return merged
