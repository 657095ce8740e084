//! Assembly of the email capability from the cold-start state (filled in by the architecture refactor).
