output "user_data" {
  description = "cloud-config of every host, keyed by minion id (FQDN), as text (NoCloud seeds, the lab). Holds private keys: sensitive."
  value       = local.user_data
  sensitive   = true
}

output "user_data_base64gzip" {
  description = "The same, gzip-compressed and base64-encoded, as Nova takes it (cloud-init decompresses gzip user-data)."
  value       = { for id, ud in local.user_data : id => base64gzip(ud) }
  sensitive   = true

  precondition {
    # Nova refuses user_data over 65535 bytes once base64-encoded.
    condition     = alltrue([for id, ud in local.user_data : length(base64gzip(ud)) <= 65535])
    error_message = "A compressed user-data exceeds Nova's 65535-byte limit: the salt master's grows with every minion's key; deploy fewer nodes."
  }
}

output "inventory" {
  description = "The inventory pillar (pillar/_from_terraform.sls) as an object."
  value       = local.inventory
}

output "inventory_yaml" {
  description = "The inventory pillar file as written on the salt master."
  value       = local.inventory_yaml
}

output "hosts" {
  description = "Every host by minion id: hostname, roles, private and public address."
  value       = local.nodes_by_id
}
