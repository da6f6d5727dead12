"""Pure helpers of the ``microk8s`` execution and state modules (no Salt dunders here).

``constants`` (paths, addon catalogue, CLI messages), ``validate`` (argument checks),
``status`` / ``snap`` / ``cluster`` (parsers of what MicroK8s and snap print), ``tokens``
(``cluster-tokens.txt`` semantics), ``csr`` (``csr.conf.template`` SANs), ``certs`` (the join
fingerprint), ``redact`` (keeping tokens out of messages and logs).
"""
