"""Serializer helpers every app's API shares."""

import copy
from typing import Any, ClassVar

from rest_framework import serializers


class ReadOnlyModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer for answers, whose fields are worked out from the model once per class, not per instance.

    DRF introspects the model and builds every field again for each serializer it makes (and for each nested one):
    most of the time an answer takes to serialize. The fields depend on the class alone, so they are built once and
    each instance gets a deep copy (fresh fields, as DRF's declared fields are, since binding a field ties it to its
    serializer). Only for serializers whose fields are all read-only: none of them reads the request.
    """

    _fields_built: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        if cls not in self._fields_built:
            self._fields_built[cls] = super().get_fields()
        return copy.deepcopy(self._fields_built[cls])
