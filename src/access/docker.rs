//! `docker exec` into a container (kind nodes are containers).

use super::DockerAccess;

/// The exact argv that runs `argv` in the container: `docker exec CONTAINER argv...`.
///
/// No shell is involved, so arguments arrive unchanged. Killing `docker exec` on timeout
/// does not kill the process inside the container; commands that may hang should carry
/// their own `timeout`.
pub fn docker_argv(access: &DockerAccess, argv: &[String]) -> Vec<String> {
    ["docker", "exec", access.container.as_str()]
        .into_iter()
        .map(String::from)
        .chain(argv.iter().cloned())
        .collect()
}
