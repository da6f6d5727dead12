# No provider on purpose: everything here is pure rendering, so `terraform test` runs offline
# with no `terraform init`, and kubesalt/tf renders the lab's user-data through the same code.
terraform {
  # 1.9: validation conditions may refer to other variables (root password vs its switch).
  required_version = ">= 1.9"
}
