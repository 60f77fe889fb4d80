"""dlp_assets"""
