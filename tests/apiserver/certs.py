"""The test cluster's PKI and kubeconfigs, made with the openssl CLI.

DIR/ca.crt|key      the cluster CA (kept across restarts: a restarted server keeps it)
DIR/server.crt|key  the serving certificate, SAN IP:127.0.0.1, DNS:localhost
DIR/admin.crt|key   CN=kubernetes-admin, O=system:masters (for kubectl)
DIR/node.crt|key    CN=system:node:<node>, O=system:nodes (for a kubelet)
DIR/token           a bearer token (user "test-token-user")
DIR/sa.key          the key service-account tokens are signed with (HMAC)
DIR/kubeconfig          admin, everything embedded (certificate-authority-data...)
DIR/kubeconfig-token    the bearer token
DIR/kubeconfig-files    the node certificate, as file paths
Keys are ECDSA P-256: quick to make, and understood by Go, libcurl and Python.
"""

import base64
import os
import secrets
import subprocess
import tempfile

DAYS = "3650"


class PkiError(Exception):
    pass


def _openssl(*args):
    try:
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError as e:
        raise PkiError("the openssl command is not installed (apt-get install openssl)") from e
    if r.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def _key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


def _signed(d, name, subject, extensions):
    """name.crt signed by the CA, for a new key name.key."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _key(key)
    with tempfile.TemporaryDirectory() as t:
        csr, ext = os.path.join(t, "req.csr"), os.path.join(t, "ext.cnf")
        with open(ext, "w") as f:
            f.write("[v3]\n" + "\n".join(extensions) + "\n")
        _openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
        _openssl(
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            os.path.join(d, "ca.crt"),
            "-CAkey",
            os.path.join(d, "ca.key"),
            "-set_serial",
            str(secrets.randbits(63) + 1),
            "-days",
            DAYS,
            "-sha256",
            "-extfile",
            ext,
            "-extensions",
            "v3",
            "-out",
            crt,
        )


def ensure(d, node_name):
    """Makes whatever of the PKI is missing in d; returns the bearer token."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    fresh_ca = not (os.path.exists(ca_key) and os.path.exists(ca_crt))
    if fresh_ca:
        _key(ca_key)
        _openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            ca_key,
            "-sha256",
            "-days",
            DAYS,
            "-subj",
            "/CN=ledgerlet-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out",
            ca_crt,
        )
    leaf = [
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "basicConstraints=critical,CA:FALSE",
    ]
    wanted = [
        (
            "server",
            "/CN=ledgerlet-test-apiserver",
            leaf + ["extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        ),
        ("admin", "/O=system:masters/CN=kubernetes-admin", leaf + ["extendedKeyUsage=clientAuth"]),
        (
            "node",
            f"/O=system:nodes/CN=system:node:{node_name}",
            leaf + ["extendedKeyUsage=clientAuth"],
        ),
    ]
    for name, subject, ext in wanted:
        if fresh_ca or not os.path.exists(os.path.join(d, name + ".crt")):
            _signed(d, name, subject, ext)
    token = _secret_file(os.path.join(d, "token"), 24)
    _secret_file(os.path.join(d, "sa.key"), 32)
    return token


def _secret_file(path, nbytes):
    try:
        with open(path) as f:
            value = f.read().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_hex(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def _b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfigs(d, port, token):
    server = f"https://127.0.0.1:{port}"
    ca = os.path.join(d, "ca.crt")

    def config(user, cluster_extra, user_fields):
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: test",
            "  cluster:",
            f"    server: {server}",
            *cluster_extra,
            "users:",
            f"- name: {user}",
            "  user:",
            *user_fields,
            "contexts:",
            "- name: test",
            "  context:",
            "    cluster: test",
            f"    user: {user}",
            "    namespace: default",
            "current-context: test",
            "",
        ]
        return "\n".join(lines)

    embedded_ca = [f"    certificate-authority-data: {_b64(ca)}"]
    files = {
        "kubeconfig": config(
            "admin",
            embedded_ca,
            [
                f"    client-certificate-data: {_b64(os.path.join(d, 'admin.crt'))}",
                f"    client-key-data: {_b64(os.path.join(d, 'admin.key'))}",
            ],
        ),
        "kubeconfig-token": config("token", embedded_ca, [f"    token: {token}"]),
        "kubeconfig-files": config(
            "node",
            [f"    certificate-authority: {ca}"],
            [
                f"    client-certificate: {os.path.join(d, 'node.crt')}",
                f"    client-key: {os.path.join(d, 'node.key')}",
            ],
        ),
    }
    for name, text in files.items():
        write_atomic(os.path.join(d, name), text, 0o600)


def write_atomic(path, text, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
