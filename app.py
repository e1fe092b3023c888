"""Image Service: the table of contents. Each handler reads the request or event, calls one
function in chalicelib, and returns what it gives back."""

import json
from urllib.parse import quote

from chalice import AuthResponse, Chalice, CognitoUserPoolAuthorizer, CORSConfig, Rate

from chalicelib import (
    apikeys,
    collection,
    guests,
    image_operations,
    logs,
    openapi,
    settings,
    sharelinks,
    uploadlog,
    validation,
    webhooks,
)
from chalicelib.web import (
    accepted,
    conventions,
    created,
    listing,
    no_content,
    redirect,
    versioned,
    view,
)

config = settings.get()
app = Chalice(app_name="image-service")
app.api.binary_types.extend(sorted(validation.IMAGE_TYPES))
users = CognitoUserPoolAuthorizer("users", provider_arns=[config.user_pool_arn])
cors = (
    CORSConfig(allow_origin=config.cors_origins[0], allow_headers=["X-Share-Token"])
    if config.cors_origins
    else None
)
IMAGE_BODY = sorted(validation.IMAGE_TYPES)
app.register_middleware(logs.invocation, "all")  # first: it sees the answer conventions made
app.register_middleware(conventions, "http")


# API keys are checked by this built-in authorizer. API Gateway caches its answer per key for
# ttl_seconds, so a revoked key keeps working for at most that long (the README says so too).
@app.authorizer(ttl_seconds=30, header="X-Api-Key")
def external_key(auth_request):
    found = apikeys.verify(auth_request.token)
    if found is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=f"apikey:{found['keyId']}", context=found)


@app.route("/health", methods=["GET"], cors=cors)
def health():
    return {"status": "ok"}


@app.route("/openapi.json", methods=["GET"], cors=cors)
def openapi_document():
    return openapi.document()


@app.route("/", methods=["GET"])
def index():
    from chalicelib import webpage

    return webpage.asset("index.html")


@app.route("/static/{name}", methods=["GET"])
def static_asset(name):
    from chalicelib import webpage

    return webpage.asset(name)


@app.route("/config", methods=["GET"], cors=cors)
def client_config():
    from chalicelib import webpage

    return webpage.client_config()


@app.route("/me", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def me(v):
    return {"sub": v.caller.id, "username": v.caller.name, "groups": sorted(v.caller.groups)}


@app.route("/images", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def create_image(v):
    body = image_operations.create_image(v.access, v.json(), v.headers.get("idempotency-key"))
    return created(body, v.url(f"/images/{body['image']['id']}"), private=True)


# The one-step upload has a route of its own: Chalice (and API Gateway) want every media type
# of one route to be binary, or none.
@app.route("/images/raw", methods=["POST"], authorizer=users, content_types=IMAGE_BODY, cors=cors)
@view(app)
def create_image_from_body(v):
    image = image_operations.create_image_from_body(
        v.caller,
        v.request.raw_body or b"",
        v.headers.get("content-type"),
        v.headers.get("x-filename"),
    )
    return accepted({"image": image}, v.url(f"/images/{image['id']}"))


@app.route("/images", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_images(v):
    return listing(v, image_operations.list_images(v.caller, v.params))


@app.route("/images/{image_id}", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def get_image(v, image_id):
    image = v.access.readable(image_id)
    fresh = v.not_modified(image.version)
    return versioned(
        image.version, lambda: image_operations.image_view(v.caller, image), not_modified=fresh
    )


@app.route("/images/{image_id}", methods=["PATCH"], authorizer=users, cors=cors)
@view(app)
def update_image(v, image_id):
    image = image_operations.update_image(
        v.access.changeable(image_id), v.json(), if_match=v.if_match()
    )
    return versioned(image["version"], lambda: image, not_modified=False)


@app.route("/images/{image_id}", methods=["DELETE"], authorizer=users, cors=cors)
@view(app)
def delete_image(v, image_id):
    image_operations.delete_image(v.access.changeable(image_id))
    return no_content()


@app.route("/images/{image_id}/upload", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def replace_image(v, image_id):
    image = v.access.changeable(image_id)
    body = image_operations.replace_content(v.caller, image, v.json())
    return created(body, v.url(f"/images/{image_id}"), private=True)


@app.route("/images/{image_id}/content/{variant}", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def image_content(v, image_id, variant):
    return redirect(image_operations.content_url(v.caller, v.access.readable(image_id), variant))


@app.route("/images/{image_id}/render", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def render_image(v, image_id):
    from chalicelib import renders  # imports Pillow only when a render must be made

    url = renders.redirect_for(v.access.readable(image_id), v.params, v.headers.get("accept"))
    return redirect(url, vary=renders.varies_on(v.params))


@app.route("/images/{image_id}/links", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def mint_embed_link(v, image_id):
    from chalicelib import embeds

    link = embeds.mint(v.access.changeable(image_id), v.json(), v.caller)
    return created(link, v.url(f"/images/{image_id}/links/{link['id']}"), private=True)


@app.route("/images/{image_id}/links", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_embed_links(v, image_id):
    from chalicelib import embeds

    return listing(
        v, embeds.listing(v.access.links_listable(image_id), v.params, v.access.links_minted_by())
    )


@app.route("/images/{image_id}/links/{link_id}", methods=["DELETE"], authorizer=users, cors=cors)
@view(app)
def revoke_embed_link(v, image_id, link_id):
    from chalicelib import embeds

    embeds.revoke(v.access.changeable(image_id), link_id)
    return no_content()


@app.route("/uploads", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def upload_log(v):
    return listing(v, uploadlog.list_uploads(v.access, v.params))


@app.route("/collections", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def create_collection(v):
    made = collection.create(v.caller, v.json())
    return created(made, v.url(f"/collections/{made['id']}"))


@app.route("/collections", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def my_collections(v):
    return listing(v, collection.of_member(v.caller))


@app.route("/collections/{collection_id}", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def get_collection(v, collection_id):
    return listing(v, collection.view(collection_id, may_read=v.access.is_member))


@app.route("/collections/{collection_id}/members", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def add_member(v, collection_id):
    added, user_id = collection.add_member(
        v.caller, collection_id, v.json(), may_read=v.access.is_member
    )
    member = quote(user_id, safe="")
    return created(added, v.url(f"/collections/{collection_id}/members/{member}"))


@app.route(
    "/collections/{collection_id}/members/{user_id}",
    methods=["DELETE"],
    authorizer=users,
    cors=cors,
)
@view(app)
def remove_member(v, collection_id, user_id):
    collection.remove_member(v.caller, collection_id, user_id, may_read=v.access.is_member)
    return no_content()


@app.route("/collections/{collection_id}/images", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def collection_images(v, collection_id):
    return listing(v, image_operations.list_collection(v.access, collection_id, v.params))


@app.route("/collections/{collection_id}/links", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def create_share_link(v, collection_id):
    collection.require_owner(v.caller, collection_id, may_read=v.access.is_member)
    link = sharelinks.create(v.caller, collection_id, v.json())
    return created(
        link, v.url(f"/collections/{collection_id}/links/{link['linkId']}"), private=True
    )


@app.route("/collections/{collection_id}/links", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_share_links(v, collection_id):
    collection.require_owner(v.caller, collection_id, may_read=v.access.is_member)
    return {"links": sharelinks.of_collection(collection_id)}


@app.route(
    "/collections/{collection_id}/links/{link_id}",
    methods=["DELETE"],
    authorizer=users,
    cors=cors,
)
@view(app)
def revoke_share_link(v, collection_id, link_id):
    collection.require_owner(v.caller, collection_id, may_read=v.access.is_member)
    sharelinks.revoke(collection_id, link_id)
    return no_content()


# Guests: no authorizer; each route checks the share link in X-Share-Token (one use each).
@app.route("/shared", methods=["GET"], cors=cors)
@view(app, guest=True)
def shared_collection(v):
    return guests.overview(sharelinks.use(v.share_token))


@app.route("/shared/images", methods=["GET"], cors=cors)
@view(app, guest=True)
def shared_images(v):
    return guests.images(sharelinks.use(v.share_token), v.params)


@app.route("/shared/images", methods=["POST"], cors=cors)
@view(app, guest=True)
def shared_upload(v):
    filename, content_type, title, size = guests.check_upload(v.json())
    link = sharelinks.use(v.share_token, upload_bytes=size)
    body = guests.create_upload(link, filename, content_type, title, size)
    # The record is the collection owner's to read, at /images/{id}; a guest sees it listed.
    return created(body, v.url(f"/images/{body['image']['id']}"), private=True)


@app.route("/shared/images/{image_id}/content/{variant}", methods=["GET"], cors=cors)
@view(app, guest=True)
def shared_content(v, image_id, variant):
    image = guests.readable(sharelinks.use(v.share_token), image_id)
    return redirect(guests.content_url(image, variant))


@app.route("/shared/images/{image_id}/render", methods=["GET"], cors=cors)
@view(app, guest=True)
def shared_render(v, image_id):
    from chalicelib import renders

    image = guests.readable(sharelinks.use(v.share_token), image_id)
    return redirect(renders.redirect_for(image, v.params, v.headers.get("accept")), vary="Accept")


@app.route("/admin/api-keys", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def issue_api_key(v):
    v.access.require_admin()
    key = apikeys.issue(v.caller, v.json())
    return created(key, v.url(f"/admin/api-keys/{key['keyId']}"), private=True)


@app.route("/admin/api-keys", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_api_keys(v):
    v.access.require_admin()
    return {"keys": apikeys.list_keys()}


@app.route("/admin/api-keys/{key_id}", methods=["DELETE"], authorizer=users, cors=cors)
@view(app)
def revoke_api_key(v, key_id):
    v.access.require_admin()
    apikeys.revoke(key_id)
    return no_content()


@app.route("/admin/api-keys/{key_id}/webhooks", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def register_webhook(v, key_id):
    v.access.require_admin()
    hook = webhooks.register(v.caller, key_id, v.json())
    where = v.url(f"/admin/api-keys/{key_id}/webhooks/{hook['webhookId']}")
    return created(hook, where, private=True)


@app.route("/admin/api-keys/{key_id}/webhooks", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_webhooks(v, key_id):
    v.access.require_admin()
    return {"webhooks": webhooks.of_key(key_id)}


@app.route(
    "/admin/api-keys/{key_id}/webhooks/{webhook_id}",
    methods=["DELETE"],
    authorizer=users,
    cors=cors,
)
@view(app)
def remove_webhook(v, key_id, webhook_id):
    v.access.require_admin()
    webhooks.remove(key_id, webhook_id)
    return no_content()


@app.route(
    "/admin/api-keys/{key_id}/webhooks/{webhook_id}/deliveries",
    methods=["GET"],
    authorizer=users,
    cors=cors,
)
@view(app)
def webhook_deliveries(v, key_id, webhook_id):
    v.access.require_admin()
    return {"deliveries": webhooks.attempts(key_id, webhook_id)}


@app.route(
    "/external/images/{image_id}/content/{variant}", methods=["GET"], authorizer=external_key
)
@view(app, api_key=True)
def external_content(v, image_id, variant):
    apikeys.record_use(v.caller.api_key_id)
    return redirect(image_operations.content_url(v.caller, v.access.readable(image_id), variant))


@app.route("/external/images/{image_id}/render", methods=["GET"], authorizer=external_key)
@view(app, api_key=True)
def external_render(v, image_id):
    from chalicelib import renders

    apikeys.record_use(v.caller.api_key_id)
    url = renders.redirect_for(v.access.readable(image_id), v.params, v.headers.get("accept"))
    return redirect(url, vary=renders.varies_on(v.params))


@app.route("/external/images/{image_id}/links", methods=["POST"], authorizer=external_key)
@view(app, api_key=True)
def external_mint_embed_link(v, image_id):
    from chalicelib import embeds

    apikeys.record_use(v.caller.api_key_id)
    link = embeds.mint(v.access.readable(image_id), v.json(), v.caller)
    return created(link, v.url(f"/external/images/{image_id}/links/{link['id']}"), private=True)


@app.route("/external/images/{image_id}/links", methods=["GET"], authorizer=external_key)
@view(app, api_key=True)
def external_list_embed_links(v, image_id):
    from chalicelib import embeds

    apikeys.record_use(v.caller.api_key_id)
    image = v.access.readable(image_id)
    return listing(v, embeds.listing(image, v.params, v.access.links_minted_by()))


@app.route(
    "/external/images/{image_id}/links/{link_id}", methods=["DELETE"], authorizer=external_key
)
@view(app, api_key=True)
def external_revoke_embed_link(v, image_id, link_id):
    from chalicelib import embeds

    apikeys.record_use(v.caller.api_key_id)
    embeds.revoke(v.access.readable(image_id), link_id, v.access.links_minted_by())
    return no_content()


@app.on_s3_event(bucket=config.bucket, events=["s3:ObjectCreated:*"], prefix="uploads/")
def handle_upload(event):
    from chalicelib import processing  # only this function pays for importing Pillow

    processing.process(event.key)


# Events when processing ends, from their queue: onto the bus, and out to each webhook.
@app.on_sqs_message(queue=config.events_queue, batch_size=1)
def deliver_events(event):
    for record in event:
        webhooks.handle(json.loads(record.body))


@app.schedule(Rate(config.cleanup_rate_minutes, unit=Rate.MINUTES))
def cleanup(event):
    from chalicelib import cleanup as sweep

    sweep.run()
