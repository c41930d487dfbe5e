"""The billing2 service"""
