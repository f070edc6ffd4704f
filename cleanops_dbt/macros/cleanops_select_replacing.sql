{#-
  select every column of `relation`, replacing some by SQL expressions and dropping others.

  The column list is read from the database at run time because a pipeline file names only
  the columns it changes. `replace` maps column → expression; the expressions are built by
  cleanops.transform.models from validated identifiers and fixed templates.
-#}
{% macro cleanops_select_replacing(relation, replace={}, drop=[]) -%}
    {%- if not execute -%}
        select * from {{ relation }}
    {%- else -%}
        {%- set columns = adapter.get_columns_in_relation(relation) -%}
        {%- set names = columns | map(attribute='name') | list -%}
        {%- for wanted in (replace.keys() | list) + drop -%}
            {%- if wanted not in names -%}
                {{ exceptions.raise_compiler_error("column " ~ wanted ~ " is not in " ~ relation ~ " (has: " ~ names | join(", ") ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        select
        {%- for column in columns if column.name not in drop %}
            {% if column.name in replace -%}
                {{ replace[column.name] }} as {{ adapter.quote(column.name) }}
            {%- else -%}
                {{ adapter.quote(column.name) }}
            {%- endif -%}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ relation }}
    {%- endif -%}
{%- endmacro %}
