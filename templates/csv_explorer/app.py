"""CSV Explorer: upload a CSV (or use the sample), look at the rows, filter, summarise and chart."""

import io

import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="CSV Explorer", page_icon="🦔", layout="wide")
st.title("CSV Explorer")
st.caption("Upload a CSV file, or explore the sample below.")


@st.cache_data
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    days = pd.date_range("2026-01-01", periods=120, freq="D")
    return pd.DataFrame(
        {
            "date": days,
            "region": rng.choice(["North", "South", "East", "West"], size=len(days)),
            "units": rng.integers(5, 120, size=len(days)),
            "price": rng.normal(24.0, 4.0, size=len(days)).round(2),
        }
    ).assign(revenue=lambda d: (d.units * d.price).round(2))


@st.cache_data
def load(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data))


uploaded = st.file_uploader("CSV file", type=["csv"])
if uploaded is not None:
    try:
        df = load(uploaded.getvalue())
    except Exception as error:  # a bad file should explain itself, not crash the app
        st.error(f"Could not read {uploaded.name} as CSV: {error}")
        st.stop()
    st.success(f"Loaded {uploaded.name}: {len(df):,} rows, {len(df.columns)} columns.")
else:
    df = sample()
    st.info("Showing a generated sample of daily sales.")

with st.sidebar:
    st.header("Filter")
    filtered = df
    for column in df.columns[:6]:
        series = df[column]
        if pd.api.types.is_numeric_dtype(series) and series.notna().any():
            low, high = float(series.min()), float(series.max())
            if low < high:
                chosen = st.slider(column, low, high, (low, high))
                filtered = filtered[filtered[column].between(*chosen)]
        elif series.nunique() <= 20:
            options = sorted(series.dropna().astype(str).unique())
            picked = st.multiselect(column, options, default=options)
            filtered = filtered[filtered[column].astype(str).isin(picked)]

st.subheader(f"Rows ({len(filtered):,} of {len(df):,})")
st.dataframe(filtered, width="stretch", hide_index=True)

st.subheader("Summary statistics")
numeric = filtered.select_dtypes("number")
if numeric.empty:
    st.write("No numeric columns to summarise.")
else:
    st.dataframe(numeric.describe().T, width="stretch")

    st.subheader("Chart")
    left, right = st.columns(2)
    y = left.selectbox("Value", list(numeric.columns))
    candidates = [c for c in filtered.columns if c != y]
    x = right.selectbox("Against", candidates) if candidates else None
    if x is not None:
        chart = filtered[[x, y]].dropna()
        if pd.api.types.is_numeric_dtype(chart[x]) or pd.api.types.is_datetime64_any_dtype(chart[x]):
            st.line_chart(chart.sort_values(x), x=x, y=y)
        else:
            st.bar_chart(chart.groupby(x)[y].sum())
