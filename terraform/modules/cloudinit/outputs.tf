output "user_data" {
  description = "cloud-config of every host, keyed by minion id (FQDN). Holds private keys: sensitive."
  value       = local.user_data
  sensitive   = true

  precondition {
    # Nova refuses user_data over 65535 bytes once base64-encoded.
    condition     = alltrue([for id, ud in local.user_data : length(base64encode(ud)) <= 65535])
    error_message = "A rendered user-data exceeds Nova's 65535-byte limit (base64): the salt master's grows with every minion key; use fewer workers per deployment."
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
