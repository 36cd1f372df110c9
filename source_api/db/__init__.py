"""The Olist source database: DDL, CSV loader, synthetic data generator and order simulator."""
