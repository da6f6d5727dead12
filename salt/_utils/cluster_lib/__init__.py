"""Pure helpers of the kubesalt state tree: pillar validation and the id pattern."""
