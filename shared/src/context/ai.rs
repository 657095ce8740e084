//! Assembly of the ai capability from the cold-start state (filled in by the architecture refactor).
