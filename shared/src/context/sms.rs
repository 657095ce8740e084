//! Assembly of the sms capability from the cold-start state (filled in by the architecture refactor).
