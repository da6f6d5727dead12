"""What the lab demo prints when a step fails: the failed states themselves, also those of
the minions an orchestration step ran on (not only "Run failed on minions: ...")."""

from __future__ import annotations

from kubesalt.lab.demo import _failed_states

MASTER = "salt.lab.kubesalt.test_master"
REGION = "maas-region.lab.kubesalt.test"


def test_a_failed_orchestration_step_names_the_failed_states_of_its_minions():
    returns = {
        MASTER: {
            "salt_|-maas-orch-db_|-maas-orch-db_|-state": {
                "result": False,
                "comment": f"Run failed on minions: {REGION}",
                "changes": {
                    "ret": {
                        REGION: {
                            "postgres_user_|-maas_|-maas_|-present": {
                                "result": True,
                                "comment": "User maas is already present",
                            },
                            "postgres_database_|-maasdb_|-maasdb_|-present": {
                                "result": False,
                                "comment": "could not connect to server\nsecond line",
                            },
                        }
                    }
                },
            },
            "salt_|-maas-orch-region-1_|-maas-orch-region-1_|-state": {
                "result": False,
                "comment": "One or more requisite failed: orch.maas.maas-orch-db",
                "changes": {},
            },
        }
    }
    assert _failed_states(returns) == [
        f"{MASTER}: salt_|-maas-orch-db_|-maas-orch-db_|-state: Run failed on minions: {REGION}",
        f"  {REGION}: postgres_database_|-maasdb_|-maasdb_|-present: could not connect to server",
        f"{MASTER}: salt_|-maas-orch-region-1_|-maas-orch-region-1_|-state:"
        " One or more requisite failed: orch.maas.maas-orch-db",
    ]


def test_a_minion_without_a_state_return_in_a_step_is_named():
    returns = {
        MASTER: {
            "salt_|-step_|-step_|-state": {
                "result": False,
                "comment": f"Run failed on minions: {REGION}",
                "changes": {"ret": {REGION: "Minion did not return. [No response]"}},
            }
        }
    }
    assert _failed_states(returns)[1:] == [
        f"  {REGION}: Minion did not return. [No response]",
    ]


def test_a_failed_nested_orchestration_names_its_failed_steps_and_their_minions():
    worker = "k8s-bm-0.lab.kubesalt.test"
    returns = {
        MASTER: {
            "salt_|-baremetal-cluster_|-state.orchestrate_|-runner": {
                "result": False,
                "comment": "Runner function 'state.orchestrate' failed.",
                "changes": {
                    "return": {
                        "data": {
                            MASTER: {
                                "salt_|-cluster-workers_|-cluster-workers_|-state": {
                                    "result": False,
                                    "comment": f"Run failed on minions: {worker}",
                                    "changes": {
                                        "ret": {
                                            worker: {
                                                "microk8s_|-joined_|-joined_|-x": {
                                                    "result": False,
                                                    "comment": "not in the mine yet",
                                                }
                                            }
                                        }
                                    },
                                }
                            }
                        }
                    }
                },
            }
        }
    }
    assert _failed_states(returns)[1:] == [
        f"  {MASTER}: salt_|-cluster-workers_|-cluster-workers_|-state:"
        f" Run failed on minions: {worker}",
        f"    {worker}: microk8s_|-joined_|-joined_|-x: not in the mine yet",
    ]
