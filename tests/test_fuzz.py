"""Every JSON endpoint fuzzed from its OpenAPI document (schemathesis): no 5xx, and every
response conforms to the document (status codes, content types, bodies, headers)."""
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES = 40  # per operation: docs/security.md quotes the totals


def test_every_endpoint_survives_generated_input(app, make_treatment, make_token, push_service,
                                                 capsys):
    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    clinic_id, clinic_headers = make_token()
    _, client_token, _ = make_treatment(clinic_id)
    make_treatment(clinic_id)  # a second session: list endpoints page through more than one
    headers = {"client": {"Authorization": f"Bearer {client_token}"}, "clinic": clinic_headers}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    sent, failures, operations = 0, [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        who = "client" if "/me" in operation.path else "clinic"

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            nonlocal sent
            sent += 1
            # Schema-valid is not always acceptable: a treatment time must be within the last
            # year, a session id must exist. Such refusals are 4xx with a message, checked
            # by the other checks (documented status, JSON error body).
            case.call_and_validate(headers={**(case.headers or {}), **headers[who]},
                                   excluded_checks=[positive_data_acceptance])
        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # fuzz them all, report every failure
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    with capsys.disabled():
        print(f"\nfuzzed {operations} operations with {sent} requests")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)


def test_ids_beyond_any_row_are_not_found_rather_than_a_database_error(client, make_token):
    """Found by the fuzzing above on PostgreSQL (32-bit integer ids): a 500 before."""
    _, headers = make_token()
    for method, path in [("GET", "/api/v1/sessions/3808019953617847"),
                         ("DELETE", "/api/v1/sessions/3808019953617847"),
                         ("GET", "/api/v1/sessions/2147483648/qr.svg"),
                         ("GET", "/api/v1/check-ins/99999999999")]:
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"] == "not_found"
