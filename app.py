"""Image Service: the table of contents. Each handler reads the request or event, calls one
function in chalicelib, and returns what it gives back."""

from chalice import Chalice, CognitoUserPoolAuthorizer, CORSConfig, Rate

from chalicelib import service, settings
from chalicelib.web import accepted, created, no_content, redirect, view

config = settings.get()
app = Chalice(app_name="image-service")
app.api.binary_types.extend(sorted(service.validation.IMAGE_TYPES))
users = CognitoUserPoolAuthorizer("users", provider_arns=[config.user_pool_arn])
cors = CORSConfig(allow_origin=config.cors_origins[0]) if config.cors_origins else None
IMAGE_BODY = ["application/json", *sorted(service.validation.IMAGE_TYPES)]


@app.route("/health", methods=["GET"], cors=cors)
def health():
    return {"status": "ok"}


@app.route("/me", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def me(v):
    return {"sub": v.caller.id, "username": v.caller.name, "groups": sorted(v.caller.groups)}


@app.route("/images", methods=["POST"], authorizer=users, content_types=IMAGE_BODY, cors=cors)
@view(app)
def create_image(v):
    content_type = (v.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return created(service.create_image(v.caller, v.json(), check_collection=None))
    body = v.request.raw_body or b""
    return accepted(
        {
            "image": service.create_image_from_body(
                v.caller, body, content_type, v.headers.get("x-filename")
            )
        }
    )


@app.route("/images", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def list_images(v):
    return service.list_images(v.caller, v.params)


@app.route("/images/{image_id}", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def get_image(v, image_id):
    return service.image_view(service.owned(v.caller, image_id))


@app.route("/images/{image_id}", methods=["PATCH"], authorizer=users, cors=cors)
@view(app)
def update_image(v, image_id):
    return service.update_image(v.caller, service.owned(v.caller, image_id), v.json())


@app.route("/images/{image_id}", methods=["DELETE"], authorizer=users, cors=cors)
@view(app)
def delete_image(v, image_id):
    service.delete_image(service.owned(v.caller, image_id))
    return no_content()


@app.route("/images/{image_id}/upload", methods=["POST"], authorizer=users, cors=cors)
@view(app)
def replace_image(v, image_id):
    return created(service.replace_content(v.caller, service.owned(v.caller, image_id), v.json()))


@app.route("/images/{image_id}/content/{variant}", methods=["GET"], authorizer=users, cors=cors)
@view(app)
def image_content(v, image_id, variant):
    return redirect(service.content_url(service.owned(v.caller, image_id), variant))


@app.on_s3_event(bucket=config.bucket, events=["s3:ObjectCreated:*"], prefix="uploads/")
def handle_upload(event):
    from chalicelib import processing  # only this function pays for importing Pillow

    processing.process(event.key)


@app.schedule(Rate(config.cleanup_rate_minutes, unit=Rate.MINUTES))
def cleanup(event):
    from chalicelib import cleanup as sweep

    sweep.run()
