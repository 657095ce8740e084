//! Assembly of the notifications capability from the cold-start state (filled in by the architecture refactor).
