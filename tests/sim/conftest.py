from tests.support.microk8s_sim import microk8s_sim  # noqa: F401 - the fixture
from tests.support.microk8s_sim import microk8s_sim_module  # noqa: F401 - the fixture
