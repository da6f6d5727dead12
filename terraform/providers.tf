# Credentials come from the environment (OS_CLOUD + clouds.yaml, or OS_AUTH_URL and friends):
# nothing secret is written in this configuration.
provider "openstack" {
  cloud = var.openstack_cloud
}
