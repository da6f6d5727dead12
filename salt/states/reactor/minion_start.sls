{#- On every minion start: the bootstrap runner checks whether every minion of the inventory
    answers and, once they all do, syncs them and runs orch.cluster (once per inventory;
    concurrent triggers are serialised by its lock). See salt/_runners/cluster_bootstrap.py. #}
kubesalt-bootstrap-on-minion-start:
  runner.cluster_bootstrap.run:
    - args:
      - trigger: {{ data.get('id', 'unknown') | yaml_dquote }}
