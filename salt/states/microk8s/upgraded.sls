{%- from "map.jinja" import kubesalt with context %}
{#- One node's refresh in a rolling upgrade (orch.upgrade drains it first and waits for it
    after): the snap moves to kubesalt:microk8s:channel, one minor at a time, never back. #}

microk8s-upgraded:
  microk8s.upgraded:
    - name: microk8s
    - channel: {{ kubesalt.microk8s.channel | json }}
