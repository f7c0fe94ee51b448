# SPDX-License-Identifier: MIT
"""docs/openapi.yaml (issue 15, Done-when 5): an OpenAPI 3.1 document whose
paths and methods are exactly the route table of src/api/routes.c (CORS rows
also answer OPTIONS), whose reason enum is src/core/reason.h's, whose every
$ref resolves, and whose documented statuses include what the live server
answers to each operation (with the admin key, no body)."""

import re

import pytest
import requests
import yaml

from conftest import HTTP_TIMEOUT, REPO_ROOT

SPEC_PATH = REPO_ROOT / "docs" / "openapi.yaml"
ROUTES_C = REPO_ROOT / "src" / "api" / "routes.c"
REASON_H = REPO_ROOT / "src" / "core" / "reason.h"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
MASKS = {"M_GET": {"get"}, "M_GET_HEAD": {"get", "head"}, "M_POST": {"post"},
         "M(HTTP_DELETE)": {"delete"}, "M_ANY": None}


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text())


def routes():
    """(path, match, methods or None for any, cors) per row of routes[]."""
    text = ROUTES_C.read_text()
    macros = dict(re.findall(r'#define (\w+) "([^"]+)"', text))
    table = text[text.index("static const route_t routes[] = {"):]
    table = table[:table.index("};")]
    rows = re.findall(r'\{("[^"]+"|\w+), (ROUTE_\w+), ([^,]+(?:\([^)]*\))?), \w+, ([01]), ([01])\}',
                      table)
    assert len(rows) == table.count("ROUTE_") - 0, "a route row was not parsed"
    out = []
    for path, match, mask, _gated, cors in rows:
        path = path.strip('"') if path.startswith('"') else macros[path]
        assert mask.strip() in MASKS, f"unknown method mask {mask!r}: teach this test"
        out.append((path, match, MASKS[mask.strip()], cors == "1"))
    return out


def row_covers(row, spec_path):
    path, match, _, _ = row
    if match == "ROUTE_EXACT":
        return spec_path == path
    if match == "ROUTE_SUBTREE":
        return spec_path == path or spec_path.startswith(path + "/")
    return re.fullmatch(re.escape(path) + r"\{[a-z_]+\}", spec_path) is not None


def ops(item):
    return {k for k in item if k in METHODS}


def test_is_an_openapi_3_1_document(spec):
    assert str(spec["openapi"]).startswith("3.1."), spec["openapi"]
    assert spec["info"]["title"] and spec["info"]["version"]
    for path, item in spec["paths"].items():
        assert path.startswith("/"), path
        assert set(item) <= METHODS | {"parameters", "summary", "description"}, (path, set(item))
        for param in re.findall(r"\{([a-z_]+)\}", path):
            names = [p["name"] for p in item.get("parameters", []) if p.get("in") == "path"]
            assert param in names, f"{path}: path parameter {param} is not declared"
        for m in ops(item):
            responses = item[m]["responses"]
            assert responses and all(re.fullmatch(r"[1-5][0-9][0-9]", k) for k in responses), \
                (path, m, list(responses))
            for scheme in (s for req in item[m].get("security", []) for s in req):
                assert scheme in spec["components"]["securitySchemes"], (path, m, scheme)


def test_every_ref_resolves(spec):
    def resolve(ref):
        assert ref.startswith("#/"), ref
        node = spec
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
            node = node[part]

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)


def test_every_route_is_documented_with_its_methods(spec):
    paths = spec["paths"]
    for row in routes():
        path, match, methods, cors = row
        mine = [p for p in paths if row_covers(row, p)]
        base = [p for p in mine if p == path or match == "ROUTE_ITEM"]
        assert base, f"{path} ({match}) is not in docs/openapi.yaml"
        have = set().union(*(ops(paths[p]) for p in base))
        if methods is None:
            assert have, f"{path}: no method documented"
        else:
            assert methods <= have, f"{path}: routes.c answers {methods}, the spec has {have}"
        if cors:
            assert "options" in have, f"{path}: a CORS route's preflight is not documented"


def test_nothing_is_documented_that_is_not_routed(spec):
    rows = routes()
    for path, item in spec["paths"].items():
        covering = [r for r in rows if row_covers(r, path)]
        assert covering, f"{path} is in docs/openapi.yaml but no route answers it"
        if any(r[2] is None for r in covering):
            continue
        routed = set().union(*(r[2] for r in covering))
        if any(r[3] for r in covering):
            routed |= {"options"}
        assert ops(item) <= routed, f"{path}: the spec has {ops(item) - routed}, routes.c does not"


def reason_h_map(name):
    """The wire names of one X-macro of reason.h (CF_REASON_MAP, CF_END_MAP)."""
    text = REASON_H.read_text()
    body = text[text.index(f"#define {name}(X)"):]
    body = body[:re.search(r"[^\\]\n", body).end()]
    return [n for n in re.findall(r'X\(\w+, "([a-z_]+)"', body) if n != "none"]


def test_reason_enum_is_the_reason_map(spec):
    # Only CF_REASON_MAP: the end reasons (CF_END_MAP) once leaked into this enum.
    assert spec["components"]["schemas"]["Reason"]["enum"] == reason_h_map("CF_REASON_MAP")


def test_end_reason_enum_is_the_end_map(spec):
    assert spec["components"]["schemas"]["EndReason"]["enum"] == reason_h_map("CF_END_MAP")


def test_live_statuses_are_documented(spec, start_curfew):
    srv = start_curfew("cors: {allowed_origins: [https://app.example.com]}\n")
    undocumented = []
    for path, item in spec["paths"].items():
        url = re.sub(r"\{[a-z_]+\}", "nope", path)
        for m in sorted(ops(item)):
            headers = dict(srv.admin_headers())
            if m == "options":
                headers.update({"Origin": "https://app.example.com",
                                "Access-Control-Request-Method": "POST"})
            r = requests.request(m.upper(), srv.url(url), headers=headers, timeout=HTTP_TIMEOUT,
                                 allow_redirects=False)
            if str(r.status_code) not in item[m]["responses"]:
                undocumented.append(f"{m.upper()} {url} -> {r.status_code} {r.text[:120]}")
            elif r.status_code >= 400 and r.headers.get("Content-Type", "").startswith(
                    "application/json") and m != "head":
                assert "reason" in r.json(), (m, url, r.text)
    assert not undocumented, "\n".join(undocumented)
