"""Benchmarks against the peers (gensim, Spark MLlib Word2Vec), measured in one run."""
