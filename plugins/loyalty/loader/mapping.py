"""The mapping file of `loyalty load`: which source feeds each entity, and how to read it.

Validated like a workflow spec (pydantic, extra fields forbidden, errors naming file, line and field
through `loyalty.specs.loading.line_of`) and published as a JSON Schema (`loyalty mapping schema`,
committed as loader/mapping.schema.json). The `columns` model of each entity is generated from
loyalty.loader.entities, so the schema lists exactly the raw table's fields and marks the required ones.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from loyalty.loader.entities import ENTITIES, Entity
from loyalty.specs.loading import format_validation_error, line_of, read_yaml

__all__ = ["EntityMapping", "LoadMapping", "MappingError", "Source", "read_mapping"]

Format = Literal["csv", "parquet", "postgres"]
Encoding = Literal["utf-8", "latin-1", "cp1252"]
DEFAULT_TRUE = ["true", "t", "yes", "y", "1"]
DEFAULT_FALSE = ["false", "f", "no", "n", "0"]
# What pyarrow's strptime understands (and the round-trip check in loyalty.loader.parsing can verify).
DIRECTIVES = set("YymdHMSIpbBz%")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
ENV_REFERENCE = re.compile(r"\$\{(\w+)\}")
ENCODINGS: dict[str, Encoding] = {"utf-8": "utf-8", "iso8859-1": "latin-1", "cp1252": "cp1252"}


class MappingError(ValueError):
    """A mapping that cannot be used, with a message naming the file, line and field."""


class Source(BaseModel):
    """A file or glob (relative to the mapping file's folder), or a table or query on a Postgres database."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="A CSV or Parquet file or glob, relative to the mapping file's folder.")
    url: str | None = Field(None, description="postgresql:// URL of a source database; `${ENV_VAR}` is expanded.")
    table: str | None = Field(None, description="schema.table on the source database (with url).")
    query: str | None = Field(None, description="A select statement on the source database (with url).")

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.path is None) == (self.url is None):
            raise ValueError("give either path (a file or glob) or url (a database)")
        if self.path is not None and (self.table or self.query):
            raise ValueError("table and query go with url, not path")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("with url, give exactly one of table or query")
        if self.table is not None and not TABLE_NAME.match(self.table):
            raise ValueError(f"table {self.table!r} must be `name` or `schema.name`")
        return self


class EntityMapping(BaseModel):
    """How to read one entity's source. `columns` maps our field to the source column's header."""

    model_config = ConfigDict(extra="forbid")

    source: Source
    format: Format | None = Field(None, description="Default: from the file extension, or postgres when url is set.")
    encoding: Encoding = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    decimal: Literal[".", ","] = "."
    date_format: str | None = Field(None, description="strftime-style, e.g. %d/%m/%Y; default ISO 8601.")
    timestamp_format: str | None = Field(
        None, description="strftime-style, e.g. %d/%m/%Y %H:%M; default ISO 8601 (with or without offset)."
    )
    true_values: list[str] = Field(default_factory=lambda: list(DEFAULT_TRUE), min_length=1)
    false_values: list[str] = Field(default_factory=lambda: list(DEFAULT_FALSE), min_length=1)
    columns: BaseModel  # narrowed per entity below
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description=(
            "Per our field, a source value and ours, e.g. status: {paid: completed} (a shop's words for ours); "
            "values not listed pass unchanged."
        ),
    )

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding_alias(cls, value: Any) -> Any:
        """utf8, UTF-8, latin1, ISO-8859-1, windows-1252 ... mean the same codecs."""
        try:
            return ENCODINGS.get(codecs.lookup(value).name, value) if isinstance(value, str) else value
        except LookupError:
            return value

    @field_validator("date_format", "timestamp_format")
    @classmethod
    def _strftime(cls, value: str | None) -> str | None:
        if value is None:
            return None
        directives = re.findall(r"%(.)", value)
        if not directives:
            raise ValueError(f"{value!r} has no % directive (e.g. %d/%m/%Y)")
        unsupported = sorted({d for d in directives if d not in DIRECTIVES})
        if unsupported:
            raise ValueError(f"unsupported directive(s) {', '.join('%' + d for d in unsupported)} in {value!r}")
        return value

    @model_validator(mode="after")
    def _format_fits_source(self) -> EntityMapping:
        if self.source.url is not None and self.format not in (None, "postgres"):
            raise ValueError(f"format {self.format} needs a path; a url source is read as postgres")
        if self.source.path is not None and self.format == "postgres":
            raise ValueError("format postgres needs a url source")
        if self.source.path is not None and self.format is None and _format_of(self.source.path) is None:
            raise ValueError(f"cannot tell the format of {self.source.path!r}: set format (csv or parquet)")
        unmapped = sorted(set(self.values) - set(self.column_map()))
        if unmapped:
            raise ValueError(f"values for field(s) not in columns: {', '.join(unmapped)}")
        overlap = {v.lower() for v in self.true_values} & {v.lower() for v in self.false_values}
        if overlap:
            raise ValueError(f"values both true and false: {', '.join(sorted(overlap))}")
        return self

    @property
    def resolved_format(self) -> Format:
        if self.format is not None:
            return self.format
        if self.source.url is not None:
            return "postgres"
        found = _format_of(self.source.path or "")
        assert found is not None  # checked by _format_fits_source
        return found

    def column_map(self) -> dict[str, str]:
        """Our field -> the source column, for the fields the mapping gives."""
        return {name: column for name, column in self.columns.model_dump().items() if column is not None}


def _format_of(path: str) -> Format | None:
    suffix = Path(path).suffix.lower()
    return "csv" if suffix in {".csv", ".txt", ".tsv"} else "parquet" if suffix in {".parquet", ".pq"} else None


def _entity_mapping_model(entity: Entity) -> type[EntityMapping]:
    camel = "".join(part.title() for part in entity.name.split("_"))
    columns = create_model(  # type: ignore[call-overload]
        f"{camel}Columns",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"raw.{entity.table}: our field -> the source column. Required: {', '.join(entity.required)}.",
        **{
            f.name: (str, Field(..., min_length=1)) if f.required else (str | None, Field(None, min_length=1))
            for f in entity.fields
        },
    )
    model: type[EntityMapping] = create_model(
        f"{camel}Mapping", __base__=EntityMapping, __doc__=f"The {entity.name} source.", columns=(columns, ...)
    )
    return model


ENTITY_MAPPINGS = {name: _entity_mapping_model(entity) for name, entity in ENTITIES.items()}

if TYPE_CHECKING:
    Entities = BaseModel
else:
    Entities = create_model(
        "Entities",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Any subset of the entities, loaded in this order.",
        **{name: (model | None, None) for name, model in ENTITY_MAPPINGS.items()},
    )


class LoadMapping(BaseModel):
    """A `loyalty load` mapping file."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="Source timezone for timestamps without an offset (IANA name).")
    entities: Entities

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (an IANA name such as America/Sao_Paulo)") from None
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> LoadMapping:
        if not self.by_entity():
            raise ValueError(f"entities: name at least one of {', '.join(ENTITIES)}")
        return self

    def by_entity(self) -> dict[str, EntityMapping]:
        """The entities given, in load order (referenced entities first)."""
        given = {name: getattr(self.entities, name) for name in ENTITIES}
        return {name: mapping for name, mapping in given.items() if mapping is not None}


def mapping_json_schema() -> dict[str, Any]:
    """The published JSON Schema of a mapping file (loader/mapping.schema.json)."""
    return LoadMapping.model_json_schema()


def read_mapping(path: Path) -> tuple[LoadMapping, str]:
    """Parse and validate a mapping file: the model and the file's text (for later line lookups).
    Raises MappingError naming the file, line and field."""
    data, text = read_yaml(path, MappingError)
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a load mapping must be a YAML mapping with `entities:`")
    try:
        return LoadMapping.model_validate(data), text
    except ValidationError as exc:
        raise MappingError(format_validation_error(path, text, exc, "invalid load mapping")) from None


def where(mapping_path: Path, text: str, *location: str | int) -> str:
    """`file: line N: a.b.c` for messages about a field found wrong after validation (a missing column...)."""
    line = line_of(text, location)
    dotted = ".".join(str(part) for part in location)
    return f"{mapping_path}: line {line}: {dotted}" if line else f"{mapping_path}: {dotted}"


def expand_url(url: str, mapping_path: Path, text: str, entity: str) -> str:
    """`${ENV_VAR}` references expanded from the environment; a missing variable is a mapping error."""
    missing = [name for name in ENV_REFERENCE.findall(url) if name not in os.environ]
    if missing:
        raise MappingError(
            f"{where(mapping_path, text, 'entities', entity, 'source', 'url')}: "
            f"environment variable(s) not set: {', '.join(missing)}"
        )
    return ENV_REFERENCE.sub(lambda match: os.environ[match.group(1)], url)
