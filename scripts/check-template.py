#!/usr/bin/env python3
"""Checks the security properties of template.yaml that cfn-lint and checkov do not know about.

The template is expanded with the SAM translator (the same transform CloudFormation runs, from
the aws-sam-translator package the SAM CLI brings), so the checks read what would be deployed:
the generated roles, event source mappings and stage, not SAM's shorthand. Each check has a
mutation that removes the property it guards; the script proves every check fails on its
mutation, so no check can pass by reading nothing.

Run by `make test` as `.venv/bin/python scripts/check-template.py`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sys
from typing import Any, Callable

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# The translator warns about its own unpublished usage metrics on every transform.
logging.disable(logging.WARNING)

from samtranslator.public.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "template.yaml")
# The one list of the functions' metrics: the variants of `enum Metric`.
METRICS_MODULE = os.path.join(os.path.dirname(__file__), "..", "shared", "src", "metrics.rs")
# The queues whose depth and age the dashboard shows: the work queues and their DLQs.
DASHBOARD_QUEUES = ["PublishQueue", "PublishDeadLetterQueue", "WebhookQueue", "WebhookDeadLetterQueue"]

# The functions that call LinkedIn's token or revoke endpoints, and so need the client secret.
SECRET_READERS = {"OAuthFunction", "PublisherFunction", "RefresherFunction", "HealthFunction"}
# Their client secrets' ARNs: the member app's, and the pages app's when there is one.
SECRET_ARNS = {
    "LINKEDIN_CLIENT_SECRET_ARN": "LinkedInClientSecretArn",
    "LINKEDIN_PAGES_CLIENT_SECRET_ARN": "LinkedInPagesClientSecretArn",
}
SECRET_RESOURCES = [
    {"Ref": "LinkedInClientSecretArn"},
    {"Fn::If": ["HasPagesApp", {"Ref": "LinkedInPagesClientSecretArn"}, {"Ref": "AWS::NoValue"}]},
]
# The functions that sign webhook deliveries or show an endpoint's secret (derived from the
# webhook master secret), and that secret.
WEBHOOK_SECRET_READERS = {"ApiFunction", "NotifierFunction"}
WEBHOOK_SECRET_RESOURCES = [{"Ref": "WebhookSigningSecret"}]
# Who may use the token key, and for what (shared/src/vault.rs: GenerateDataKey to seal,
# Decrypt to open, with the context {purpose, tenant_id, connection_id}).
KEY_USERS = {
    "kms:GenerateDataKey": {"OAuthFunction", "PublisherFunction", "RefresherFunction", "HealthFunction"},
    "kms:Decrypt": {"PublisherFunction", "RefresherFunction", "HealthFunction"},
}
VAULT_CONTEXT_KEYS = {"purpose", "tenant_id", "connection_id"}
KEY_USE_ACTIONS = {
    "kms:*", "kms:decrypt", "kms:encrypt", "kms:generatedatakey", "kms:generatedatakeywithoutplaintext",
    "kms:generatedatakeypair", "kms:generatedatakeypairwithoutplaintext", "kms:reencryptfrom",
    "kms:reencryptto", "kms:reencrypt*", "kms:creategrant", "kms:generatedatakey*", "kms:create*",
    "kms:re*", "kms:g*", "kms:e*", "kms:d*", "kms:c*",
}


def expand(sam: dict) -> dict:
    """The CloudFormation SAM's transform makes of the template."""
    sam = copy.deepcopy(sam)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # `sam build` replaces the local CodeUri with the uploaded artifact's S3 address.
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    try:
        return transform(sam, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        raise SystemExit("check-template: SAM cannot transform the template: " + "; ".join(str(c) for c in e.causes))


def resources(cfn: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(cfn: dict, role: str) -> list[dict]:
    props = cfn["Resources"][role]["Properties"]
    return [s for p in props.get("Policies", []) for s in as_list(p["PolicyDocument"]["Statement"])]


def function_of_role(cfn: dict) -> dict[str, str]:
    return {
        f["Properties"]["Role"]["Fn::GetAtt"][0]: name
        for name, f in resources(cfn, "AWS::Lambda::Function").items()
        if isinstance(f["Properties"].get("Role"), dict) and "Fn::GetAtt" in f["Properties"]["Role"]
    }


def parameter_default_at_least(cfn: dict, value: Any, minimum: int) -> bool:
    """A literal >= minimum, or a parameter whose default and MinValue are."""
    if isinstance(value, int):
        return value >= minimum
    if isinstance(value, dict) and "Ref" in value:
        param = cfn["Parameters"].get(value["Ref"], {})
        return int(param.get("Default", 0)) >= minimum and int(param.get("MinValue", 0)) >= minimum
    return False


# --- the checks: each returns what is wrong (empty = fine) ---


def every_function_logs_to_a_declared_group_with_retention(cfn: dict) -> list[str]:
    problems = []
    groups = resources(cfn, "AWS::Logs::LogGroup")
    for name, f in resources(cfn, "AWS::Lambda::Function").items():
        ref = f["Properties"].get("LoggingConfig", {}).get("LogGroup")
        if not (isinstance(ref, dict) and ref.get("Ref") in groups):
            problems.append(f"{name} has no LoggingConfig.LogGroup naming a declared log group")
            continue
        if "RetentionInDays" not in groups[ref["Ref"]]["Properties"]:
            problems.append(f"{name}'s log group {ref['Ref']} keeps logs forever (no RetentionInDays)")
    return problems


def the_http_api_writes_access_logs_without_query_strings(cfn: dict) -> list[str]:
    problems = []
    groups = resources(cfn, "AWS::Logs::LogGroup")
    stages = resources(cfn, "AWS::ApiGatewayV2::Stage")
    if not stages:
        return ["no HTTP API stage"]
    for name, stage in stages.items():
        settings = stage["Properties"].get("AccessLogSettings")
        if not settings:
            problems.append(f"{name} has no AccessLogSettings")
            continue
        target = settings.get("DestinationArn", {}).get("Fn::GetAtt", [None])[0]
        if target not in groups or "RetentionInDays" not in groups[target]["Properties"]:
            problems.append(f"{name}'s access logs go to no declared log group with retention")
        # The callback's query string carries the OAuth code: the route key, never the path.
        for leak in ("$context.path", "$request.querystring", "$context.authorizer.token"):
            if leak in settings.get("Format", ""):
                problems.append(f"{name}'s access log format logs {leak}")
    return problems


def the_http_api_throttles_its_routes(cfn: dict) -> list[str]:
    problems = []
    for name, stage in resources(cfn, "AWS::ApiGatewayV2::Stage").items():
        route = stage["Properties"].get("DefaultRouteSettings", {})
        for key in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
            if not parameter_default_at_least(cfn, route.get(key), 1):
                problems.append(f"{name} has no DefaultRouteSettings.{key}")
    return problems


def the_jwt_authorizer_can_require_a_scope(cfn: dict) -> list[str]:
    problems = []
    for name, api in resources(cfn, "AWS::ApiGatewayV2::Api").items():
        for path, methods in api["Properties"].get("Body", {}).get("paths", {}).items():
            for method, operation in methods.items():
                for requirement in operation.get("security", []):
                    for authorizer, scopes in requirement.items():
                        if authorizer == "NONE":
                            continue
                        # Operators' routes ask for the admin scope instead (a route's own
                        # scopes replace the authorizer's).
                        wanted = "AdminScope" if path.startswith("/v1/admin/") else "JwtRequiredScope"
                        if wanted not in repr(scopes):
                            problems.append(f"{method.upper()} {path} does not ask for {wanted}")
    if "JwtRequiredScope" not in cfn["Parameters"]:
        problems.append("no JwtRequiredScope parameter")
    return problems


def the_table_has_deletion_protection(cfn: dict) -> list[str]:
    return [
        f"{name} has no DeletionProtectionEnabled: true"
        for name, table in resources(cfn, "AWS::DynamoDB::Table").items()
        if table["Properties"].get("DeletionProtectionEnabled") is not True
    ]


def the_scheduler_role_trusts_only_this_stacks_schedules(cfn: dict) -> list[str]:
    problems, found = [], False
    for name, role in resources(cfn, "AWS::IAM::Role").items():
        for statement in as_list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"]):
            services = as_list(statement.get("Principal", {}).get("Service", []))
            if "scheduler.amazonaws.com" not in services:
                continue
            found = True
            conditions = {k for c in statement.get("Condition", {}).values() for k in c}
            for key in ("aws:SourceAccount", "aws:SourceArn"):
                if key not in conditions:
                    problems.append(f"{name}'s trust policy has no {key} condition")
    return problems if found else ["no role trusts scheduler.amazonaws.com"]


def every_sqs_source_has_maximum_concurrency(cfn: dict) -> list[str]:
    problems = []
    queues = resources(cfn, "AWS::SQS::Queue")
    mappings = resources(cfn, "AWS::Lambda::EventSourceMapping")
    for name, mapping in mappings.items():
        source = mapping["Properties"].get("EventSourceArn", {})
        if not (isinstance(source, dict) and source.get("Fn::GetAtt", [None])[0] in queues):
            continue
        limit = mapping["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
        if not parameter_default_at_least(cfn, limit, 2):
            problems.append(f"{name} has no ScalingConfig.MaximumConcurrency (at least 2)")
    return problems if mappings else ["no SQS event source"]


def the_refresher_has_reserved_concurrency(cfn: dict) -> list[str]:
    refresher = cfn["Resources"]["RefresherFunction"]["Properties"]
    reserved = refresher.get("ReservedConcurrentExecutions")
    if reserved is None:
        return ["RefresherFunction has no ReservedConcurrentExecutions"]
    # `!If [ReservesRefresherConcurrency, !Ref RefresherReservedConcurrency, NoValue]`: the
    # parameter's default must reserve some.
    value = reserved["Fn::If"][1] if isinstance(reserved, dict) and "Fn::If" in reserved else reserved
    if isinstance(value, dict) and "Ref" in value:
        if int(cfn["Parameters"][value["Ref"]].get("Default", 0)) < 1:
            return ["RefresherReservedConcurrency reserves nothing by default"]
    elif not (isinstance(value, int) and value >= 1):
        return ["RefresherFunction reserves no concurrency"]
    return []


def the_client_secret_reaches_only_the_functions_that_call_linkedin(cfn: dict) -> list[str]:
    """Each secret (the LinkedIn apps' client secrets; the webhook master secret) reaches only
    the functions that need it: its ARN in their environment, GetSecretValue on it alone."""
    problems = []
    functions = resources(cfn, "AWS::Lambda::Function")
    role_to_function = function_of_role(cfn)
    for name, f in functions.items():
        variables = f["Properties"].get("Environment", {}).get("Variables", {})
        for secret in ("LINKEDIN_CLIENT_SECRET", "WEBHOOK_SIGNING_SECRET"):
            if secret in variables:
                problems.append(f"{name} has the secret {secret} itself in its environment")
        for variable, parameter in SECRET_ARNS.items():
            has_arn = variables.get(variable) == {"Ref": parameter}
            if has_arn != (name in SECRET_READERS):
                problems.append(f"{name} {'has' if has_arn else 'lacks'} {variable}")
        has_webhook_arn = variables.get("WEBHOOK_SIGNING_SECRET_ARN") == WEBHOOK_SECRET_RESOURCES[0]
        if has_webhook_arn != (name in WEBHOOK_SECRET_READERS):
            problems.append(f"{name} {'has' if has_webhook_arn else 'lacks'} WEBHOOK_SIGNING_SECRET_ARN")
    for role in resources(cfn, "AWS::IAM::Role"):
        grants = [
            s for s in role_statements(cfn, role)
            if any(str(a).lower().startswith("secretsmanager:") for a in as_list(s.get("Action", [])))
        ]
        function = role_to_function.get(role)
        wanted = {
            "the LinkedIn client secret": (function in SECRET_READERS, SECRET_RESOURCES),
            "the webhook signing secret": (function in WEBHOOK_SECRET_READERS, WEBHOOK_SECRET_RESOURCES),
        }
        for what, (needs, resource) in wanted.items():
            granted = any(as_list(s["Resource"]) == resource for s in grants)
            if needs and not granted:
                problems.append(f"{role} cannot read {what}")
            if granted and not needs:
                problems.append(f"{role} may read {what}, which it does not need")
        for s in grants:
            if as_list(s["Action"]) != ["secretsmanager:GetSecretValue"]:
                problems.append(f"{role} has secretsmanager actions beyond GetSecretValue")
            if as_list(s["Resource"]) not in (SECRET_RESOURCES, WEBHOOK_SECRET_RESOURCES):
                problems.append(f"{role} reads secrets other than the LinkedIn apps' client secrets and the webhook signing secret")
    if "NoEcho" in repr(cfn["Parameters"]):
        problems.append("a NoEcho parameter: secrets do not pass through CloudFormation")
    return problems


def only_the_functions_that_need_it_use_the_token_key(cfn: dict) -> list[str]:
    problems = []
    role_to_function = function_of_role(cfn)
    # No IAM policy grants KMS: the key policy is the one place that does.
    for role in resources(cfn, "AWS::IAM::Role"):
        for s in role_statements(cfn, role):
            if any(str(a).lower().startswith("kms:") for a in as_list(s.get("Action", []))):
                problems.append(f"{role}'s IAM policy grants KMS actions (grant them in the key policy)")
    keys = resources(cfn, "AWS::KMS::Key")
    if "TokenKey" not in keys:
        return problems + ["no TokenKey"]
    users: dict[str, set[str]] = {action: set() for action in KEY_USERS}
    for s in as_list(keys["TokenKey"]["Properties"]["KeyPolicy"]["Statement"]):
        if s.get("Effect") != "Allow":
            continue
        actions = {str(a).lower() for a in as_list(s["Action"])}
        principals = as_list(s["Principal"].get("AWS", [])) if isinstance(s["Principal"], dict) else [s["Principal"]]
        use = actions & KEY_USE_ACTIONS
        if not use:
            continue
        sid = s.get("Sid", "?")
        for principal in principals:
            role = principal.get("Fn::GetAtt", [None])[0] if isinstance(principal, dict) else None
            if role not in role_to_function:
                problems.append(f"key policy {sid} lets {principal!r} use the key (not a function role)")
                continue
            for action in s["Action"] if isinstance(s["Action"], list) else [s["Action"]]:
                if action in users:
                    users[action].add(role_to_function[role])
                else:
                    problems.append(f"key policy {sid} grants {action} to {role}")
        condition = s.get("Condition", {})
        if condition.get("StringEquals", {}).get("kms:EncryptionContext:purpose") != "linkedin-tokens":
            problems.append(f"key policy {sid} does not require the vault's purpose")
        keys_condition = condition.get("ForAllValues:StringEquals", {}).get("kms:EncryptionContextKeys")
        if set(as_list(keys_condition or [])) != VAULT_CONTEXT_KEYS:
            problems.append(f"key policy {sid} does not pin the encryption context keys")
    for action, expected in KEY_USERS.items():
        if users[action] != expected:
            problems.append(f"{action} is granted to {sorted(users[action])}, expected {sorted(expected)}")
    return problems


def the_internet_facing_api_function_holds_no_kms_rights(cfn: dict) -> list[str]:
    problems = []
    role = next(r for r, f in function_of_role(cfn).items() if f == "ApiFunction")
    for s in role_statements(cfn, role):
        if any(str(a).lower().startswith("kms:") for a in as_list(s.get("Action", []))):
            problems.append(f"{role}'s IAM policy grants KMS actions")
    for key, resource in resources(cfn, "AWS::KMS::Key").items():
        if role in repr(resource["Properties"].get("KeyPolicy")):
            problems.append(f"{key}'s key policy names {role}")
    return problems


def metric_names() -> list[str]:
    """The variant names of `pub enum Metric` in shared/src/metrics.rs (its CloudWatch names)."""
    source = open(METRICS_MODULE).read()
    body = re.search(r"pub enum Metric \{(.*?)\n\}", source, re.S)
    if not body:
        raise SystemExit("check-template: no `pub enum Metric` in shared/src/metrics.rs")
    return re.findall(r"^\s+([A-Z][A-Za-z]+),$", body.group(1), re.M)


def the_dashboard_graphs_every_metric_and_the_queues(cfn: dict) -> list[str]:
    dashboards = resources(cfn, "AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        return [f"expected one dashboard, found {len(dashboards)}"]
    body = next(iter(dashboards.values()))["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    text = text[0] if isinstance(text, list) else text
    try:
        # ${Queue.QueueName} -> Queue.QueueName: still JSON, and each widget names its queues.
        widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", text))["widgets"]
    except (ValueError, KeyError) as e:
        return [f"the dashboard body is not a JSON object with widgets ({e})"]
    graphed = json.dumps(widgets)
    problems = []
    names = metric_names()
    if len(names) < 5:
        problems.append(f"read only {names} from shared/src/metrics.rs")
    for name in names:
        # A metric line (["ns", "Name"]) or a SEARCH expression (MetricName="Name").
        if f'"{name}"' not in graphed and f'MetricName=\\"{name}\\"' not in graphed:
            problems.append(f"the dashboard does not graph the metric {name}")
    for queue in DASHBOARD_QUEUES:
        for metric in ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]:
            if not any(metric in json.dumps(w) and f"{queue}.QueueName" in json.dumps(w) for w in widgets):
                problems.append(f"the dashboard does not show {metric} of {queue}")
    return problems


CHECKS: list[Callable[[dict], list[str]]] = [
    every_function_logs_to_a_declared_group_with_retention,
    the_http_api_writes_access_logs_without_query_strings,
    the_http_api_throttles_its_routes,
    the_jwt_authorizer_can_require_a_scope,
    the_table_has_deletion_protection,
    the_scheduler_role_trusts_only_this_stacks_schedules,
    every_sqs_source_has_maximum_concurrency,
    the_refresher_has_reserved_concurrency,
    the_client_secret_reaches_only_the_functions_that_call_linkedin,
    only_the_functions_that_need_it_use_the_token_key,
    the_internet_facing_api_function_holds_no_kms_rights,
    the_dashboard_graphs_every_metric_and_the_queues,
]


# --- mutations: each removes what one check guards, on the SAM template ---


def props(sam: dict, name: str) -> dict:
    return sam["Resources"][name]["Properties"]


def key_statement(sam: dict, sid: str) -> dict:
    return next(s for s in props(sam, "TokenKey")["KeyPolicy"]["Statement"] if s.get("Sid") == sid)


def policy_statements(sam: dict, function: str) -> list:
    return props(sam, function)["Policies"][0]["Statement"]


def replace_in_dashboard(sam: dict, old: str, new: str) -> None:
    body = props(sam, "Dashboard")["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace(old, new)


MUTATIONS: list[tuple[Callable, str, Callable[[dict], None]]] = [
    (the_dashboard_graphs_every_metric_and_the_queues, "a metric left off the dashboard",
     lambda t: replace_in_dashboard(t, '"ReconnectsDue"', '"Other"')),
    (the_dashboard_graphs_every_metric_and_the_queues, "a breakdown left off the dashboard",
     lambda t: replace_in_dashboard(t, 'MetricName=\\"WebhookDeliveries\\"', 'MetricName=\\"Other\\"')),
    (the_dashboard_graphs_every_metric_and_the_queues, "a DLQ left off the dashboard",
     lambda t: replace_in_dashboard(t, "${WebhookDeadLetterQueue.QueueName}", "${WebhookQueue.QueueName}")),
    (every_function_logs_to_a_declared_group_with_retention, "a function without its log group",
     lambda t: props(t, "ReconcilerFunction").pop("LoggingConfig")),
    (every_function_logs_to_a_declared_group_with_retention, "a log group without retention",
     lambda t: props(t, "OAuthLogGroup").pop("RetentionInDays")),
    (the_http_api_writes_access_logs_without_query_strings, "no access logs",
     lambda t: props(t, "HttpApi").pop("AccessLogSettings")),
    (the_http_api_writes_access_logs_without_query_strings, "access logs with the query string",
     lambda t: props(t, "HttpApi")["AccessLogSettings"].update(Format='{"path":"$context.path"}')),
    (the_http_api_throttles_its_routes, "no route throttling",
     lambda t: props(t, "HttpApi").pop("DefaultRouteSettings")),
    (the_jwt_authorizer_can_require_a_scope, "no authorization scope",
     lambda t: props(t, "HttpApi")["Auth"]["Authorizers"]["TenantJwt"].pop("AuthorizationScopes")),
    (the_table_has_deletion_protection, "no deletion protection",
     lambda t: props(t, "Table").pop("DeletionProtectionEnabled")),
    (the_scheduler_role_trusts_only_this_stacks_schedules, "no aws:SourceArn",
     lambda t: props(t, "SchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"].pop("aws:SourceArn")),
    (the_scheduler_role_trusts_only_this_stacks_schedules, "no aws:SourceAccount",
     lambda t: props(t, "SchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"].pop("aws:SourceAccount")),
    (every_sqs_source_has_maximum_concurrency, "the publisher's queue unbounded",
     lambda t: props(t, "PublisherFunction")["Events"]["Jobs"]["Properties"].pop("ScalingConfig")),
    (every_sqs_source_has_maximum_concurrency, "the health queue unbounded",
     lambda t: props(t, "HealthFunction")["Events"]["Tasks"]["Properties"].pop("ScalingConfig")),
    (the_refresher_has_reserved_concurrency, "no reserved concurrency",
     lambda t: props(t, "RefresherFunction").pop("ReservedConcurrentExecutions")),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the reconciler given the secret",
     lambda t: props(t, "ReconcilerFunction").setdefault("Environment", {"Variables": {}})["Variables"].update(
         LINKEDIN_CLIENT_SECRET_ARN={"Ref": "LinkedInClientSecretArn"})),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the reconciler given the pages app's secret",
     lambda t: props(t, "ReconcilerFunction").setdefault("Environment", {"Variables": {}})["Variables"].update(
         LINKEDIN_PAGES_CLIENT_SECRET_ARN={"Ref": "LinkedInPagesClientSecretArn"})),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the refresher without the pages app's secret",
     lambda t: props(t, "RefresherFunction")["Environment"]["Variables"].pop("LINKEDIN_PAGES_CLIENT_SECRET_ARN")),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the reconciler may read it",
     lambda t: policy_statements(t, "ReconcilerFunction").append(
         {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "LinkedInClientSecretArn"}})),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the publisher may read every secret",
     lambda t: next(s for s in policy_statements(t, "PublisherFunction") if s.get("Sid") == "ReadClientSecret").update(Resource="*")),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the oauth function cannot read it",
     lambda t: policy_statements(t, "OAuthFunction").remove(
         next(s for s in policy_statements(t, "OAuthFunction") if s.get("Sid") == "ReadClientSecret"))),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the reconciler may read the webhook secret",
     lambda t: policy_statements(t, "ReconcilerFunction").append(
         {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "WebhookSigningSecret"}})),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the notifier cannot read the webhook secret",
     lambda t: policy_statements(t, "NotifierFunction").remove(
         next(s for s in policy_statements(t, "NotifierFunction") if s.get("Sid") == "ReadWebhookSigningSecret"))),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the refresher given the webhook secret's ARN",
     lambda t: props(t, "RefresherFunction")["Environment"]["Variables"].update(
         WEBHOOK_SIGNING_SECRET_ARN={"Ref": "WebhookSigningSecret"})),
    (every_sqs_source_has_maximum_concurrency, "the webhook queue unbounded",
     lambda t: props(t, "NotifierFunction")["Events"]["Tasks"]["Properties"].pop("ScalingConfig")),
    (the_client_secret_reaches_only_the_functions_that_call_linkedin, "the secret in the environment",
     lambda t: props(t, "HealthFunction")["Environment"]["Variables"].update(LINKEDIN_CLIENT_SECRET="shh")),
    (only_the_functions_that_need_it_use_the_token_key, "administrators may decrypt",
     lambda t: key_statement(t, "AdministratorsManageButCannotUse")["Action"].append("kms:Decrypt")),
    (only_the_functions_that_need_it_use_the_token_key, "administrators may grant",
     lambda t: key_statement(t, "AdministratorsManageButCannotUse")["Action"].append("kms:CreateGrant")),
    (only_the_functions_that_need_it_use_the_token_key, "the reconciler may decrypt",
     lambda t: key_statement(t, "OpenTokens")["Principal"]["AWS"].append({"Fn::GetAtt": ["ReconcilerFunctionRole", "Arn"]})),
    (only_the_functions_that_need_it_use_the_token_key, "decrypt without the context keys pinned",
     lambda t: key_statement(t, "OpenTokens")["Condition"].pop("ForAllValues:StringEquals")),
    (only_the_functions_that_need_it_use_the_token_key, "seal without the purpose",
     lambda t: key_statement(t, "SealTokens")["Condition"].pop("StringEquals")),
    (only_the_functions_that_need_it_use_the_token_key, "the API function may decrypt",
     lambda t: key_statement(t, "OpenTokens")["Principal"]["AWS"].append({"Fn::GetAtt": ["ApiFunctionRole", "Arn"]})),
    (the_internet_facing_api_function_holds_no_kms_rights, "the API function in the key policy",
     lambda t: key_statement(t, "OpenTokens")["Principal"]["AWS"].append({"Fn::GetAtt": ["ApiFunctionRole", "Arn"]})),
    (the_internet_facing_api_function_holds_no_kms_rights, "the API function's IAM policy granting KMS",
     lambda t: policy_statements(t, "ApiFunction").append(
         {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["TokenKey", "Arn"]}})),
    (only_the_functions_that_need_it_use_the_token_key, "KMS granted by an IAM policy",
     lambda t: policy_statements(t, "ReconcilerFunction").append(
         {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["TokenKey", "Arn"]}})),
]


def main() -> int:
    sam = yaml_parse(open(TEMPLATE).read())
    cfn = expand(sam)
    failed = 0
    for check in CHECKS:
        problems = check(cfn)
        if problems:
            failed += 1
            print(f"check-template: {check.__name__}: FAILED", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
        else:
            print(f"check-template: {check.__name__} ok")
    # Every check must catch the removal of what it guards.
    guarded = set()
    for check, what, mutate in MUTATIONS:
        mutated = copy.deepcopy(sam)
        mutate(mutated)
        guarded.add(check)
        if not check(expand(mutated)):
            failed += 1
            print(f"check-template: {check.__name__} did not notice {what}", file=sys.stderr)
    for check in CHECKS:
        if check not in guarded:
            failed += 1
            print(f"check-template: {check.__name__} has no mutation proving it can fail", file=sys.stderr)
    print(f"check-template: {len(CHECKS) + len(MUTATIONS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
