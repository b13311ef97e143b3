"""Table dashboard: pick one of the project's tables and chart it, with burrow.sql()."""

import burrow
import streamlit as st

st.set_page_config(page_title="Table dashboard", page_icon="🦔", layout="wide")
st.title("Table dashboard")


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


tables = burrow.tables()
if not tables:
    st.info(
        "This project has no tables yet. On its Data page, choose **Add sample data** "
        "or upload a CSV, then reload this page."
    )
    st.stop()

names = [t["name"] for t in tables]
default = names.index("daily_sales") if "daily_sales" in names else 0
table = tables[st.sidebar.selectbox("Table", range(len(names)), index=default, format_func=names.__getitem__)]
columns = table["columns"]
numbers = [c["name"] for c in columns if c["type"] in ("integer", "float")]
groups = [c["name"] for c in columns if c["type"] in ("text", "date", "timestamp", "boolean", "integer")]

st.caption(f"{table['name']}: {table['rows']:,} rows, {len(columns)} columns")
if not numbers or not groups:
    st.warning("This table needs a numeric column and a column to group by to be charted.")
    st.dataframe(burrow.sql(f"select * from {quoted(table['name'])} limit 100"))
    st.stop()

dates = [c["name"] for c in columns if c["type"] in ("date", "timestamp")]
by = st.sidebar.selectbox("Group by", groups, index=groups.index(dates[0]) if dates else 0)
measure = st.sidebar.selectbox("Measure", numbers, index=len(numbers) - 1)
how = st.sidebar.radio("Aggregate", ["sum", "avg", "min", "max"], horizontal=True)

df = burrow.sql(
    f"select {quoted(by)} as {quoted(by)}, {how}({quoted(measure)}) as {quoted(measure)} "
    f"from {quoted(table['name'])} group by 1 order by 1 limit 5000"
)
total = burrow.sql(f"select count(*) as n, sum({quoted(measure)}) as total from {quoted(table['name'])}")

left, right = st.columns(2)
left.metric("Rows", f"{int(total['n'][0]):,}")
right.metric(f"Total {measure}", f"{float(total['total'][0] or 0):,.2f}")

chart = df.set_index(by)
if by in dates:
    st.line_chart(chart, y=measure)
else:
    st.bar_chart(chart, y=measure)
with st.expander("The numbers"):
    st.dataframe(df, use_container_width=True)
