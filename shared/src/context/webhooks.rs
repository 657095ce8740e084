//! Assembly of the webhooks capability from the cold-start state (filled in by the architecture refactor).
