"""Where moto cannot take what `make infra` and `chalice deploy` send, this bridges it, in
the rehearsal's own moto server only (scripts/rehearse.py). Never imported by the app.

One function or model per gap; each docstring's first line says what real AWS does instead,
and docs/deploy.md lists them. `install()` applies them all to the moto running in this
process.
"""

import inspect
import json
import re
from typing import Any

from moto.core.common_models import CloudFormationModel

# moto's model metaclass files each model under the service its module path names.
MODULE = "moto.cognitoidp.rehearsal_shims"

# physical id -> user pool id, for deleting a stack's app client and group.
_POOLS_OF: dict[str, str] = {}

Properties = dict[str, Any]
Made = tuple[str, dict[str, str]]  # the physical id, and the attributes !GetAtt reads


class _Shape:
    """What a CloudFormation model of moto's is made of, once: a subclass (which must also
    list CloudFormationModel, as moto finds models among its direct subclasses) names its
    TYPE, NAME_PROPERTY and ATTRIBUTES, and says how to `make` and `remove` the resource in
    moto's backend; CloudFormation keeps its physical id and attributes."""

    TYPE = ""
    NAME_PROPERTY = ""
    ATTRIBUTES: tuple[str, ...] = ("Arn", "ProviderName", "ProviderURL", "UserPoolId", "ClientId")

    def __init__(self, physical_id: str, attributes: dict[str, str]):
        self.physical_resource_id = physical_id
        self._attributes = attributes

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        raise NotImplementedError

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        raise NotImplementedError

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> "_Shape":
        properties = dict(cloudformation_json.get("Properties", {}))
        return cls(*cls.make(resource_name, properties, account_id, region_name))

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls.remove(resource_name, account_id, region_name)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self._attributes[attribute_name]

    def is_created(self) -> bool:
        return True


def _idp(account_id: str, region_name: str) -> Any:
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[account_id][region_name]


class CognitoUserPool(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::Cognito::UserPool (moto 5.2 has no CFN model)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY = "AWS::Cognito::UserPool", "UserPoolName"

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        pool_name = properties.pop("UserPoolName", name)
        pool = _idp(account_id, region_name).create_user_pool(pool_name, properties)
        return pool.id, {"Arn": pool.arn, "UserPoolId": pool.id}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _idp(account_id, region_name).delete_user_pool(physical_id)


class CognitoUserPoolClient(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::Cognito::UserPoolClient (no CFN model in moto)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY = "AWS::Cognito::UserPoolClient", "ClientName"

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        pool_id = properties.pop("UserPoolId")
        secret = bool(properties.pop("GenerateSecret", False))
        properties.setdefault("ClientName", name)
        client = _idp(account_id, region_name).create_user_pool_client(pool_id, secret, properties)
        _POOLS_OF[client.id] = pool_id
        return client.id, {"ClientId": client.id}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        pool_id = _POOLS_OF.pop(physical_id)
        _idp(account_id, region_name).delete_user_pool_client(pool_id, physical_id)


class CognitoUserPoolGroup(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::Cognito::UserPoolGroup (no CFN model in moto)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY = "AWS::Cognito::UserPoolGroup", "GroupName"

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        pool_id = properties["UserPoolId"]
        group = properties.get("GroupName", name)
        _idp(account_id, region_name).create_group(
            pool_id,
            group,
            properties.get("Description"),
            properties.get("RoleArn"),
            properties.get("Precedence"),
        )
        _POOLS_OF[group] = pool_id
        return group, {}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _idp(account_id, region_name).delete_group(_POOLS_OF.pop(physical_id), physical_id)


# --- the CDN stage option: moto 5.2 has CloudFront's API but no CloudFormation models ----


def _edge(account_id: str) -> Any:
    from moto.cloudfront.models import cloudfront_backends

    return cloudfront_backends[account_id]["aws"]


class CloudFrontPublicKey(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::CloudFront::PublicKey (moto: API only)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY, ATTRIBUTES = "AWS::CloudFront::PublicKey", "Name", ()

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        config = properties["PublicKeyConfig"]
        key = _edge(account_id).create_public_key(
            config["CallerReference"], config["Name"], config["EncodedKey"]
        )
        return key.id, {}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _edge(account_id).delete_public_key(physical_id)


class CloudFrontKeyGroup(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::CloudFront::KeyGroup (moto: API only)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY, ATTRIBUTES = "AWS::CloudFront::KeyGroup", "Name", ()

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        config = properties["KeyGroupConfig"]
        return _edge(account_id).create_key_group(config["Name"], config["Items"]).id, {}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _edge(account_id).key_groups.pop(physical_id, None)


class CloudFrontOriginAccessControl(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::CloudFront::OriginAccessControl (moto: API only)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY, ATTRIBUTES = "AWS::CloudFront::OriginAccessControl", "Name", ("Id",)

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        config = properties["OriginAccessControlConfig"]
        control = _edge(account_id).create_origin_access_control(config)
        return control.id, {"Id": control.id}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _edge(account_id).delete_origin_access_control(physical_id)


class CloudFrontDistribution(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::CloudFront::Distribution (moto: API only)."""

    __module__ = MODULE
    TYPE, NAME_PROPERTY = "AWS::CloudFront::Distribution", "Name"
    ATTRIBUTES = ("DomainName", "Id")

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        from devserver.cdn import distribution_config

        config = distribution_config(properties["DistributionConfig"], caller_reference=name)
        made, _, _ = _edge(account_id).create_distribution(config, tags=[])
        return made.distribution_id, {"DomainName": made.domain_name, "Id": made.distribution_id}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _edge(account_id).distributions.pop(physical_id, None)


def _s3(account_id: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


class S3BucketPolicy(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::S3::BucketPolicy (no CFN model in moto 5.2)."""

    __module__ = "moto.s3.rehearsal_shims"
    TYPE = "AWS::S3::BucketPolicy"

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        bucket = properties["Bucket"]
        document = json.dumps(properties["PolicyDocument"]).encode()
        _s3(account_id).put_bucket_policy(bucket, document)
        return bucket, {}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        if physical_id in _s3(account_id).buckets:
            _s3(account_id).delete_bucket_policy(physical_id)


def _cloudwatch(account_id: str, region_name: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region_name]


class CloudWatchAlarm(_Shape, CloudFormationModel):
    """Real AWS: CloudFormation creates AWS::CloudWatch::Alarm (no CFN model in moto 5.2)."""

    __module__ = "moto.cloudwatch.rehearsal_shims"
    TYPE, NAME_PROPERTY = "AWS::CloudWatch::Alarm", "AlarmName"

    @staticmethod
    def make(name: str, properties: Properties, account_id: str, region_name: str) -> Made:
        p = properties
        alarm = p.get("AlarmName", name)
        _cloudwatch(account_id, region_name).put_metric_alarm(
            name=alarm,
            namespace=p["Namespace"],
            metric_name=p["MetricName"],
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]),
            threshold=float(p["Threshold"]),
            statistic=p["Statistic"],
            description=p.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p["Dimensions"]],
            alarm_actions=p.get("AlarmActions") or [],
            treat_missing_data=p.get("TreatMissingData"),
        )
        return alarm, {}

    @staticmethod
    def remove(physical_id: str, account_id: str, region_name: str) -> None:
        _cloudwatch(account_id, region_name).delete_alarms([physical_id])


def s3_filter_rule_names_in_either_case() -> None:
    """Real AWS: S3 takes a notification FilterRule `Prefix` (Chalice's casing) as `prefix`."""
    from moto.s3.responses import S3Response

    original = S3Response._notification_config_from_body

    def lowered(self: Any) -> Any:
        body = self.body if isinstance(self.body, str) else self.body.decode()
        self.body = re.sub(r"<Name>(Prefix|Suffix)</Name>", _lower_name, body)
        return original(self)

    S3Response._notification_config_from_body = lowered


def _lower_name(found: re.Match[str]) -> str:
    return f"<Name>{found.group(1).lower()}</Name>"


def api_gateway_imports_swagger_2() -> None:
    """Real AWS: API Gateway imports Swagger 2.0 with its authorizers and binary media types."""
    from moto.apigateway.models import APIGatewayBackend

    put = APIGatewayBackend.put_rest_api

    def put_rest_api(
        self: Any,
        function_id: str,
        api_doc: dict[str, Any],
        fail_on_warnings: bool,
        mode: str = "merge",
    ) -> Any:
        if "swagger" not in api_doc:
            return put(self, function_id, api_doc, fail_on_warnings, mode)
        # moto reads paths, methods and integrations alike in both versions; it refuses the
        # version number, and skips what Swagger's extensions add, so those are applied here.
        paths_only = {**{k: v for k, v in api_doc.items() if k != "swagger"}, "openapi": "3.0.1"}
        api = put(self, function_id, paths_only, False, mode)
        _apply_swagger_extensions(self, api, api_doc, replace=mode == "overwrite")
        return api

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        info = api_doc.get("info", {})
        api = self.create_rest_api(name=info["title"], description=info.get("description", ""))
        self.put_rest_api(api.id, api_doc, fail_on_warnings, mode="overwrite")
        return api

    APIGatewayBackend.put_rest_api = put_rest_api
    APIGatewayBackend.import_rest_api = import_rest_api


_AUTHORIZER_TYPES = {"cognito_user_pools": "COGNITO_USER_POOLS", "token": "TOKEN"}
_METHOD_AUTHORIZATION = {"COGNITO_USER_POOLS": "COGNITO_USER_POOLS", "TOKEN": "CUSTOM"}


def _apply_swagger_extensions(
    backend: Any, api: Any, api_doc: dict[str, Any], *, replace: bool
) -> None:
    """securityDefinitions -> authorizers, `security` -> each method's authorizer,
    x-amazon-apigateway-binary-media-types -> binaryMediaTypes."""
    if replace:
        api.authorizers.clear()
    authorizers = {}
    for name, definition in api_doc.get("securityDefinitions", {}).items():
        spec = definition["x-amazon-apigateway-authorizer"]
        kind = _AUTHORIZER_TYPES[spec["type"]]
        made = backend.create_authorizer(
            api.id,
            name,
            kind,
            provider_arns=spec.get("providerARNs"),
            authorizer_uri=spec.get("authorizerUri"),
            identity_source=f"method.request.header.{definition['name']}",
            authorizer_result_ttl=spec.get("authorizerResultTtlInSeconds", 300),
        )
        authorizers[name] = made
    for path, methods in api_doc.get("paths", {}).items():
        resource = api.get_resource_for_path(path)
        for verb, method_doc in methods.items():
            for requirement in method_doc.get("security", []):
                for name in requirement:
                    method = resource.resource_methods[verb.upper()]
                    method.authorizer_id = authorizers[name].id
                    method.authorization_type = _METHOD_AUTHORIZATION[authorizers[name].type]
    binary = api_doc.get("x-amazon-apigateway-binary-media-types")
    if binary is not None:
        api.binaryMediaTypes = list(dict.fromkeys(binary))


def api_gateway_mock_integrations_need_no_uri() -> None:
    """Real AWS: a MOCK integration (Chalice's CORS preflight) has no uri and no httpMethod."""
    from moto.apigateway.models import APIGatewayBackend

    put = APIGatewayBackend.put_integration

    def put_integration(
        self: Any,
        function_id: str,
        resource_id: str,
        method_type: str,
        integration_type: str,
        uri: str | None = None,
        integration_method: str | None = None,
        **rest: Any,
    ) -> Any:
        return put(
            self,
            function_id,
            resource_id,
            method_type,
            integration_type,
            uri,
            integration_method,
            **rest,
        )

    APIGatewayBackend.put_integration = put_integration


def _forget_cached_cloudformation_models() -> None:
    """moto finds CFN models once, by subclass; the ones above must be seen."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


SHIMS = [
    CognitoUserPool,
    CognitoUserPoolClient,
    CognitoUserPoolGroup,
    CloudFrontPublicKey,
    CloudFrontKeyGroup,
    CloudFrontOriginAccessControl,
    CloudFrontDistribution,
    S3BucketPolicy,
    CloudWatchAlarm,
    s3_filter_rule_names_in_either_case,
    api_gateway_imports_swagger_2,
    api_gateway_mock_integrations_need_no_uri,
]


def install() -> list[str]:
    """Apply every shim; returns one line per shim (what real AWS does instead)."""
    _forget_cached_cloudformation_models()
    for shim in SHIMS:
        if inspect.isfunction(shim):
            shim()
    return [f"{shim.__name__}: {shim.__doc__.splitlines()[0]}" for shim in SHIMS]
