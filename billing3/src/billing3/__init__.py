"""The billing3 service"""
