"""Images in and out: untrusted bytes decoded, image sets with their truth, pictures kept.

decode.py      untrusted bytes → RGB uint8 arrays, or precisely why not (the pixel limit is read
               from the header, before decoding); PNG encoding
sets.py        images with their truth: JSONL manifests, directories, and the prompt in an image's
               own metadata (AUTOMATIC1111/Forge, ComfyUI); for ``driftmon gate`` and ``score``
artifacts.py   the pictures of failing samples (image + OCR overlay), with retention

Nothing is imported here, so each user loads only the module it needs.
"""

__all__: list[str] = []
