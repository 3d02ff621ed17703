"""An ``sshd -i`` run inside a container or a pod, so that ``ssh <cluster>`` lands there.

The caller's transport (``docker exec`` on a VM, the Kubernetes exec API) carries the
SSH protocol on the command's stdin and stdout; nothing listens on a port. Both users
write the same config under ``~/.stix_agent/sshd`` with :func:`config_heredoc` and then
run :data:`EXEC`. Importing this module imports nothing: it runs in ssh's ProxyCommand.
"""

from __future__ import annotations

# The sshd options every in-node server gets: key-only logins to the node's user.
_OPTIONS = (
    "HostKey $d/host_key",
    "AuthorizedKeysFile $HOME/.ssh/authorized_keys",
    "UsePAM no",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PidFile none",
)

EXEC = 'exec "$(command -v sshd || echo /usr/sbin/sshd)" -i -f "$HOME/.stix_agent/sshd/config"'


def config_heredoc(*extra: str) -> str:
    """Shell that writes ``$d/config`` (``d`` set by the caller) with ``extra`` lines added."""
    body = "\n".join((*_OPTIONS, *extra))
    return f'cat > "$d/config" <<CONF\n{body}\nCONF\n'
