# Salt keys made in advance: every minion's public key is accepted on the master before any
# machine boots, and the master's key is pinned on every minion (master_finger).
#
# WARNING: tls_private_key keeps the private keys unencrypted in the Terraform state, and
# user-data is readable from each instance's metadata service. Use an encrypted remote
# state backend, and treat the state as a secret.

resource "tls_private_key" "salt_master" {
  algorithm = "RSA"
  rsa_bits  = 4096
}

resource "tls_private_key" "minion" {
  for_each  = toset(local.minion_ids)
  algorithm = "RSA"
  rsa_bits  = 4096
}
