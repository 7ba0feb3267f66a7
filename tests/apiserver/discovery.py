"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>[/<version>].

Only the legacy (unaggregated) format is served. kubectl 1.32 first asks for
aggregated discovery (Accept: application/json;g=apidiscovery.k8s.io;v=v2;
as=APIGroupDiscoveryList, ...); an answer whose Content-Type is plain
application/json tells it the server does not aggregate, and it falls back to
walking /api/v1 and /apis/<group>/<version>, as it does with older servers.
"""

import hashlib

import resources

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "ledgerlet-test-apiserver",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(port):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}
        ],
    }


def _group_entry(group):
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in resources.GROUPS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_groups():
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(g) for g in sorted(resources.GROUPS)],
    }


def api_group(group):
    if group not in resources.GROUPS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def resource_list(group, version):
    rts = [r for r in resources.RESOURCES if r.group == group and r.version == version]
    if not rts:
        return None
    out = []
    for r in rts:
        entry = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        }
        if r.short_names:
            entry["shortNames"] = r.short_names
        if r.categories:
            entry["categories"] = r.categories
        gv = f"{group}/{version}" if group else version
        entry["storageVersionHash"] = hashlib.sha256(f"{gv}/{r.kind}".encode()).hexdigest()[:12]
        out.append(entry)
        for sub, (kind, verbs) in r.subresources.items():
            out.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": out,
    }
