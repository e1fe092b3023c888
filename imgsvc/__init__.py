"""imgsvc: the Image Service's command-line client and the small Python client under it."""
